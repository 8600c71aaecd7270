-- smartlimit:token_bucket v1
-- Token bucket: one string key "missing last_us", the ticks missing from a
-- full bucket as of the last update. Refills R ticks per microsecond, so it
-- decides exactly as GCRA; it stores tokens and a time instead of a TAT.
ALG[1] = {
  load = function(key, now)
    local v = redis.call('GET', key)
    if not v then
      return {0, 0}
    end
    local a, b = string.match(v, '^(%d+) (%-?%d+)$')
    return {tonumber(a), tonumber(b)}
  end,
  step = function(s, it, now, n)
    if now < s[2] then
      now = s[2] -- monotonic guard: never refill backwards
    end
    local el = now - s[2]
    local d = s[1]
    if el > idiv(it.cap, it.R) then
      d = 0
    else
      d = d - el * it.R
      if d < 0 then
        d = 0
      end
    end
    local dec, nd = bucket(it, d, n, false)
    return dec, {nd, now}
  end,
  save = function(key, s, reset)
    redis.call('SET', key, string.format('%d %d', s[1], s[2]), 'PX', ms(reset))
  end,
}
