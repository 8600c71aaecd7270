-- smartlimit:token_bucket v5 s1
-- Token bucket: one string key "missing last_us", the ticks missing from a
-- full bucket as of the last update. It refills R ticks per µs, so it is
-- full at the instant last + missing/R, its TAT; deciding on that TAT as
-- GCRA does makes its decisions exactly GCRA's, also when the clock runs
-- backwards.
ALG[1] = function(key, now, P, R, B, n, commit)
  local us, frac = 0, 0
  local v = PRE[key]
  if v == nil then
    v = redis.call('GET', key)
  end
  if v then
    local sp = string.find(v, ' ', 1, true)
    local d, last = tonumber(string.sub(v, 1, sp - 1)), tonumber(string.sub(v, sp + 1))
    local q = floor(d / R)
    us, frac = last + q, d - q * R
  end
  local ok, rem, reset, retry, delay, nd = tat(us, frac, now, P, R, B, n, false)
  if commit and ok == 1 and n > 0 then
    put(key, string.format('%d %d', nd, now), ceil(reset / 1000))
  end
  return ok, rem, reset, retry, delay
end
STRING[ALG[1]] = true
