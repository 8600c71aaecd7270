-- smartlimit:sliding_window_counter v5 s1
-- Sliding window counter: one string key "window_start prev curr". The units
-- in (now-P, now] are estimated as prev*(P-elapsed)/P + curr and compared
-- multiplied out by P, so no fraction is ever rounded. When the monotonic
-- guard decides at the state's window start, durations are still measured
-- from the clock (the caller's now, here clock).
ALG[4] = function(key, clock, P, R, _, n, commit)
  local ws, prev, curr, now = 0, 0, 0, clock
  local v = PRE[key]
  if v == nil then
    v = redis.call('GET', key)
  end
  if v then
    local a = string.find(v, ' ', 1, true)
    local b = string.find(v, ' ', a + 1, true)
    ws, prev, curr = tonumber(string.sub(v, 1, a - 1)), tonumber(string.sub(v, a + 1, b - 1)), tonumber(string.sub(v, b + 1))
    if now < ws then
      now = ws -- monotonic guard
    end
  end
  local cur = floor(now / P) * P
  if ws == cur - P then
    prev = curr
    curr = 0
  elseif ws ~= cur then
    prev = 0
    curr = 0
  end
  local w = P - (now - cur) -- weight of the previous window, in 1/P
  local reset = 0
  if curr > 0 then
    reset = cur + 2 * P - clock
  elseif prev > 0 then
    reset = cur + P - clock
  end
  if n > R or prev * w + (curr + n) * P > R * P then
    local rem = R - curr - ceil(prev * w / P)
    if rem < 0 then
      rem = 0
    end
    local retry = -1
    if n > R then
      retry = -1 -- never
    elseif curr + n <= R then
      -- wait in this window until prev*w' <= (R-curr-n)*P
      retry = w - floor((R - curr - n) * P / prev)
    else
      -- wait into the next window, where prev' = curr: curr*(P-t) <= (R-n)*P
      local t = P - floor((R - n) * P / curr)
      if t < 0 then
        t = 0
      end
      retry = cur + P + t - now
    end
    if retry ~= -1 then
      retry = retry + now - clock
    end
    return 0, rem, reset, retry, 0
  end
  curr = curr + n
  if curr > 0 then
    reset = cur + 2 * P - clock
  end
  if commit and n > 0 then
    put(key, string.format('%d %d %d', cur, prev, curr), ceil(reset / 1000))
  end
  return 1, R - curr - ceil(prev * w / P), reset, 0, 0
end
STRING[ALG[4]] = true
