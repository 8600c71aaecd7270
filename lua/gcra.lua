-- smartlimit:gcra v5 s1
-- GCRA: one string key holding the theoretical arrival time (TAT) as whole
-- µs, followed by " frac" (ticks of 1/R µs) when that is not 0. Absent =
-- full. shaping is true for the leaky bucket, which shares this code.
local function gcra(key, now, P, R, B, n, commit, shaping)
  local us, frac = 0, 0
  local v = PRE[key]
  if v == nil then
    v = redis.call('GET', key)
  end
  if v then
    us = tonumber(v)
    if not us then
      local sp = string.find(v, ' ', 1, true)
      us, frac = tonumber(string.sub(v, 1, sp - 1)), tonumber(string.sub(v, sp + 1))
    end
  end
  local ok, rem, reset, retry, delay, nd = tat(us, frac, now, P, R, B, n, shaping)
  if commit and ok == 1 and n > 0 then
    local us = floor(nd / R)
    local frac = nd - us * R
    if frac == 0 then
      put(key, now + us, ceil(reset / 1000))
    else
      put(key, string.format('%d %d', now + us, frac), ceil(reset / 1000))
    end
  end
  return ok, rem, reset, retry, delay
end
ALG[0] = gcra
STRING[ALG[0]] = true
