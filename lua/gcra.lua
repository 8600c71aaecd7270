-- smartlimit:gcra v1
-- GCRA: one string key "tat_us frac", the theoretical arrival time as whole
-- microseconds plus frac ticks of 1/R µs. Absent key = full bucket.
local function gcra(shaping)
  return {
    load = function(key, now)
      local v = redis.call('GET', key)
      if not v then
        return {0, 0}
      end
      local a, b = string.match(v, '^(%-?%d+) (%d+)$')
      return {tonumber(a), tonumber(b)}
    end,
    step = function(s, it, now, n)
      local dec, nd = bucket(it, ahead(it, s[1], s[2], now), n, shaping)
      return dec, {now + idiv(nd, it.R), nd - idiv(nd, it.R) * it.R}
    end,
    save = function(key, s, reset)
      redis.call('SET', key, string.format('%d %d', s[1], s[2]), 'PX', ms(reset))
    end,
  }
end
ALG[0] = gcra(false)
