-- smartlimit:token_bucket v4
-- Token bucket: one string key "missing last_us", the ticks missing from a
-- full bucket as of the last update. It refills R ticks per µs, so it
-- decides exactly as GCRA, but stores tokens and a time instead of a TAT.
ALG[1] = function(key, now, P, R, B, n, commit)
  local d, last = 0, 0
  local v = PRE[key]
  if v == nil then
    v = redis.call('GET', key)
  end
  if v then
    local sp = string.find(v, ' ', 1, true)
    d, last = tonumber(string.sub(v, 1, sp - 1)), tonumber(string.sub(v, sp + 1))
    if now < last then
      now = last -- monotonic guard: never refill backwards
    end
    if now - last > floor(B * P / R) then
      d = 0
    else
      d = d - (now - last) * R
      if d < 0 then
        d = 0
      end
    end
  end
  local ok, rem, reset, retry, delay, nd = bucket(d, P, R, B, n, false)
  if commit and ok == 1 and n > 0 then
    put(key, string.format('%d %d', nd, now), ceil(reset / 1000))
  end
  return ok, rem, reset, retry, delay
end
STRING[ALG[1]] = true
