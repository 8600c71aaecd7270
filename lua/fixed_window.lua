-- smartlimit:fixed_window v1
-- Fixed window: one string key "window_start count". Windows are aligned to
-- multiples of the period since the Unix epoch.
ALG[2] = {
  load = function(key, now)
    local v = redis.call('GET', key)
    if not v then
      return {0, 0}
    end
    local a, b = string.match(v, '^(%-?%d+) (%d+)$')
    return {tonumber(a), tonumber(b)}
  end,
  step = function(s, it, now, n)
    if now < s[1] then
      now = s[1] -- monotonic guard: never return to an earlier window
    end
    local P, R = it.P, it.R
    local ws = idiv(now, P) * P
    local count = 0
    if s[1] == ws then
      count = s[2]
    end
    local e = ws + P - now
    local reset = 0
    if count > 0 then
      reset = e
    end
    if n > R then
      return {0, R - count, reset, -1, 0}, s
    end
    if count + n > R then
      return {0, R - count, reset, e, 0}, s
    end
    count = count + n
    if count > 0 then
      reset = e
    end
    return {1, R - count, reset, 0, 0}, {ws, count}
  end,
  save = function(key, s, reset)
    redis.call('SET', key, string.format('%d %d', s[1], s[2]), 'PX', ms(reset))
  end,
}
