-- smartlimit shared entry point; the calling convention is in README.md.
-- KEYS: one per item. ARGV[1]: now in µs, or empty to read Redis TIME (so
-- that every time, the Unix epoch too, can be a client's). ARGV[2]:
-- mode: 0 each item on its own, 1 all items or none, 2 peek, 3 release.
-- Then the items, in runs that share a limit: algorithm, P, R, B (the lease
-- ID for concurrency), count, and the cost of each of the run's count items,
-- which take the next count KEYS. Reply: five integers per item (allowed,
-- remaining, reset_after_us, retry_after_us or -1 for never, delay_us); in
-- mode 3 one integer per item (1 if the lease was held).
local now = ARGV[1]
if now == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(now)
end
local mode = ARGV[2]
local nk = #KEYS

if nk == 1 and mode == '0' and ARGV[7] == '1' and #ARGV == 8 then
  -- The common case, kept lean.
  local f = ALG[tonumber(ARGV[3])]
  if f then
    local B = ARGV[6]
    if not ID[f] then
      B = tonumber(B)
    end
    return {f(KEYS[1], now, tonumber(ARGV[4]), tonumber(ARGV[5]), B, tonumber(ARGV[8]), true)}
  end
end

-- The runs of items that share a limit: algorithm, constants (B a number
-- unless it is a lease ID), first item, count, and the ARGV index of the
-- first item's cost. A batch mostly repeats one limit for many keys, so
-- its constants are sent and parsed once per run, and nothing but the reply
-- is kept per item: a table that grows item by item costs Redis CPU per
-- check.
local RF, RP, RR, RB, RK, RN, RJ = {}, {}, {}, {}, {}, {}, {}
local nr, ns = 0, 0 -- runs; items of string state
local i, j = 1, 3
while i <= nk do
  local f, P, R, B, cnt = ALG[tonumber(ARGV[j])], tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), ARGV[j + 3], tonumber(ARGV[j + 4])
  if ARGV[j] == nil then
    return redis.error_reply('ERR smartlimit: the items do not match the KEYS: runs cover ' .. (i - 1) .. ' of ' .. nk .. ' keys')
  end
  if not f then
    return redis.error_reply('ERR smartlimit: this script has no algorithm ' .. tostring(ARGV[j]))
  end
  if not cnt or cnt < 1 or i + cnt - 1 > nk then
    return redis.error_reply('ERR smartlimit: a run of items does not match the KEYS')
  end
  if not ID[f] then
    B = tonumber(B)
  end
  if STRING[f] then
    ns = ns + cnt
  end
  nr = nr + 1
  RF[nr], RP[nr], RR[nr], RB[nr], RK[nr], RN[nr], RJ[nr] = f, P, R, B, i, cnt, j + 5
  i, j = i + cnt, j + 5 + cnt
end
if nk == 0 or j ~= #ARGV + 1 then
  return redis.error_reply('ERR smartlimit: the items do not match the KEYS')
end

local out = {}
if mode == '3' then
  for r = 1, nr do
    for k = RK[r], RK[r] + RN[r] - 1 do
      if RB[r] == 'hw' then
        out[k] = 0 -- concurrency's high-water member, not a lease
      else
        out[k] = redis.call('ZREM', KEYS[k], RB[r])
      end
    end
  end
  return out
end

if nk > 1 and ns > 0 then
  -- One MGET instead of a GET per item, for the keys of string state (it
  -- reads the others' sorted sets as absent, to no use).
  local str = KEYS
  if ns < nk then
    str = {}
    for r = 1, nr do
      if STRING[RF[r]] then
        for k = RK[r], RK[r] + RN[r] - 1 do
          str[#str + 1] = KEYS[k]
        end
      end
    end
  end
  local vals = redis.call('MGET', unpack(str))
  for k = 1, #str do
    PRE[str[k]] = vals[k]
  end
end

-- cost returns the number in ARGV[j]. Costs mostly repeat, and tonumber
-- of a string is dear, so the last one is kept.
local lastc, lastn
local function cost(j)
  local c = ARGV[j]
  if c ~= lastc then
    lastc, lastn = c, tonumber(c)
  end
  return lastn
end

local all, commit = true, mode == '0'
for r = 1, nr do
  local f, P, R, B, j = RF[r], RP[r], RR[r], RB[r], RJ[r]
  for k = RK[r], RK[r] + RN[r] - 1 do
    local o = (k - 1) * 5
    if mode == '2' then
      -- Peek: cost 1 says whether a request would pass; cost 0 what is there.
      local a, _, _, retry, delay = f(KEYS[k], now, P, R, B, 1, false)
      local _, rem, reset = f(KEYS[k], now, P, R, B, 0, false)
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = a, rem, reset, retry, delay
    else
      local c = ARGV[j] -- cost(j), inlined in the loop that every batch runs
      if c ~= lastc then
        lastc, lastn = c, tonumber(c)
      end
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = f(KEYS[k], now, P, R, B, lastn, commit)
    end
    if out[o + 1] == 0 then
      all = false
    end
    j = j + 1
  end
end

if mode == '1' then
  -- All or nothing: commit every item only if every item passed; otherwise
  -- report what is there, uncharged, with no retry of its own.
  if all then
    -- A key MGET read as absent may hold another type (see put): GET it
    -- first, so that WRONGTYPE comes before any item is written.
    for r = 1, nr do
      local j = RJ[r]
      for k = RK[r], RK[r] + RN[r] - 1 do
        if cost(j) > 0 and PRE[KEYS[k]] == false then
          redis.call('GET', KEYS[k])
        end
        j = j + 1
      end
    end
  end
  for r = 1, nr do
    local f, P, R, B, j = RF[r], RP[r], RR[r], RB[r], RJ[r]
    for k = RK[r], RK[r] + RN[r] - 1 do
      local o = (k - 1) * 5
      if all then
        f(KEYS[k], now, P, R, B, cost(j), true)
      elseif out[o + 1] == 1 then
        local _, rem, reset = f(KEYS[k], now, P, R, B, 0, false)
        out[o + 1], out[o + 2], out[o + 3] = 0, rem, reset
      end
      j = j + 1
    end
  end
end
return out
