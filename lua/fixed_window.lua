-- smartlimit:fixed_window v5 s1
-- Fixed window: one string key "window_start count". Windows are aligned to
-- multiples of the period P (µs) since the Unix epoch; R units per window.
-- Durations are measured from now, also when the monotonic guard decides at
-- a later instant t.
ALG[2] = function(key, now, P, R, _, n, commit)
  local ws, count, t = 0, 0, now
  local v = PRE[key]
  if v == nil then
    v = redis.call('GET', key)
  end
  if v then
    local sp = string.find(v, ' ', 1, true)
    ws, count = tonumber(string.sub(v, 1, sp - 1)), tonumber(string.sub(v, sp + 1))
    if t < ws then
      t = ws -- monotonic guard: never return to an earlier window
    end
  end
  local cur = floor(t / P) * P
  if ws ~= cur then
    count = 0
  end
  local e = cur + P - now
  local reset = 0
  if count > 0 then
    reset = e
  end
  if n > R then
    return 0, R - count, reset, -1, 0
  end
  if count + n > R then
    return 0, R - count, reset, e, 0
  end
  count = count + n
  if count > 0 then
    reset = e
  end
  if commit and n > 0 then
    put(key, string.format('%d %d', cur, count), ceil(reset / 1000))
  end
  return 1, R - count, reset, 0, 0
end
STRING[ALG[2]] = true
