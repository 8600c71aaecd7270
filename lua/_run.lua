-- smartlimit shared entry point; the calling convention is in README.md.
-- KEYS: one per item. ARGV[1]: now in µs, or 0 to read Redis TIME. ARGV[2]:
-- mode: 0 each item on its own, 1 all items or none, 2 peek, 3 release.
-- Then five ARGV per item: algorithm, P, R, B (the lease ID for
-- concurrency), cost. Reply: five integers per item (allowed, remaining,
-- reset_after_us, retry_after_us or -1 for never, delay_us); in mode 3 one
-- integer per item (1 if the lease was held).
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local mode = ARGV[2]

if #KEYS == 1 and mode == '0' then
  -- The common case, kept lean.
  local f = ALG[tonumber(ARGV[3])]
  if f then
    return {f(KEYS[1], now, tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), true)}
  end
end

local out = {}
if mode == '3' then
  for i = 1, #KEYS do
    out[i] = redis.call('ZREM', KEYS[i], ARGV[i * 5 + 1])
  end
  return out
end

local all, commit = true, mode == '0'
for i = 1, #KEYS do
  local j = i * 5 - 2
  local f, P, R, B, n = ALG[tonumber(ARGV[j])], tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), ARGV[j + 3], tonumber(ARGV[j + 4])
  if not f then
    return redis.error_reply('ERR smartlimit: this script has no algorithm ' .. ARGV[j])
  end
  local o = (i - 1) * 5
  if mode == '2' then
    -- Peek: cost 1 says whether a request would pass; cost 0 what is there.
    local a, _, _, retry, delay = f(KEYS[i], now, P, R, B, 1, false)
    local _, rem, reset = f(KEYS[i], now, P, R, B, 0, false)
    out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = a, rem, reset, retry, delay
  else
    out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = f(KEYS[i], now, P, R, B, n, commit)
  end
  if out[o + 1] == 0 then
    all = false
  end
end

if mode == '1' then
  -- All or nothing: commit every item only if every item passed; otherwise
  -- report what is there, uncharged, with no retry of its own.
  for i = 1, #KEYS do
    local j = i * 5 - 2
    local f, P, R, B, n = ALG[tonumber(ARGV[j])], tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), ARGV[j + 3], tonumber(ARGV[j + 4])
    local o = (i - 1) * 5
    if all then
      f(KEYS[i], now, P, R, B, n, true)
    elseif out[o + 1] == 1 then
      local _, rem, reset = f(KEYS[i], now, P, R, B, 0, false)
      out[o + 1], out[o + 2], out[o + 3] = 0, rem, reset
    end
  end
end
return out
