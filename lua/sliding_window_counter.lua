-- smartlimit:sliding_window_counter v1
-- Sliding window counter: one string key "window_start prev curr". The units
-- in (now-P, now] are estimated as prev*(P-elapsed)/P + curr and compared
-- multiplied out by P, so no fraction is ever rounded.
local function swc_remaining(R, P, prev, curr, w)
  local r = R - curr - ceildiv(prev * w, P)
  if r < 0 then
    return 0
  end
  return r
end

ALG[4] = {
  load = function(key, now)
    local v = redis.call('GET', key)
    if not v then
      return {0, 0, 0}
    end
    local a, b, c = string.match(v, '^(%-?%d+) (%d+) (%d+)$')
    return {tonumber(a), tonumber(b), tonumber(c)}
  end,
  step = function(s, it, now, n)
    if now < s[1] then
      now = s[1] -- monotonic guard
    end
    local P, R = it.P, it.R
    local ws = idiv(now, P) * P
    local prev, curr = 0, 0
    if s[1] == ws then
      prev = s[2]
      curr = s[3]
    elseif s[1] == ws - P then
      prev = s[3]
    end
    local w = P - (now - ws)
    local reset = 0
    if curr > 0 then
      reset = ws + 2 * P - now
    elseif prev > 0 then
      reset = ws + P - now
    end
    if n > R then
      return {0, swc_remaining(R, P, prev, curr, w), reset, -1, 0}, s
    end
    if prev * w + (curr + n) * P > R * P then
      local retry
      if curr + n <= R then
        local wmax = idiv((R - curr - n) * P, prev)
        retry = (P - wmax) - (now - ws)
      else
        local t = P - idiv((R - n) * P, curr)
        if t < 0 then
          t = 0
        end
        retry = ws + P + t - now
      end
      return {0, swc_remaining(R, P, prev, curr, w), reset, retry, 0}, s
    end
    curr = curr + n
    if curr > 0 then
      reset = ws + 2 * P - now
    end
    return {1, R - curr - ceildiv(prev * w, P), reset, 0, 0}, {ws, prev, curr}
  end,
  save = function(key, s, reset)
    redis.call('SET', key, string.format('%d %d %d', s[1], s[2], s[3]), 'PX', ms(reset))
  end,
}
