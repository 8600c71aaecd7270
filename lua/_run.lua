-- smartlimit shared entry point. KEYS: one per item. ARGV[1]: now in µs, or
-- 0 to read Redis TIME. ARGV[2]: mode (0 each item on its own, 1 all items
-- or none, 2 peek, 3 release a lease). Then five ARGV per item: algorithm,
-- P, R, burst (the lease ID for concurrency), cost. Reply: five integers per
-- item (allowed, remaining, reset_after_us, retry_after_us or -1 for never,
-- delay_us); in mode 3 one integer per item (1 if the lease was held).
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local mode = tonumber(ARGV[2])
local out = {}

if mode == 3 then
  for i = 1, #KEYS do
    out[i] = redis.call('ZREM', KEYS[i], ARGV[(i - 1) * 5 + 6])
  end
  return out
end

local pending = {}
local all = true
for i = 1, #KEYS do
  local j = (i - 1) * 5 + 2
  local alg = ALG[tonumber(ARGV[j + 1])]
  if alg == nil then
    return redis.error_reply('ERR smartlimit: this script has no algorithm ' .. ARGV[j + 1])
  end
  local it = {P = tonumber(ARGV[j + 2]), R = tonumber(ARGV[j + 3]), B = tonumber(ARGV[j + 4]) or 0, id = ARGV[j + 4], n = tonumber(ARGV[j + 5])}
  it.cap = it.B * it.P
  local key = KEYS[i]
  local s = alg.load(key, now, it)
  local dec, ns = alg.step(s, it, now, it.n)
  if mode == 2 then
    -- Peek: cost 1 says whether a request would pass; cost 0 what is there.
    local d0 = alg.step(s, it, now, 0)
    dec = {dec[1], d0[2], d0[3], dec[4], dec[5]}
  elseif dec[1] == 1 and it.n > 0 then
    if mode == 0 then
      alg.save(key, ns, dec[3], it)
    else
      pending[#pending + 1] = {alg, key, ns, dec[3], it, s, #out}
    end
  end
  if dec[1] == 0 then
    all = false
  end
  local o = #out
  out[o + 1] = dec[1]
  out[o + 2] = dec[2]
  out[o + 3] = dec[3]
  out[o + 4] = dec[4]
  out[o + 5] = dec[5]
end

if mode == 1 then
  for _, p in ipairs(pending) do
    if all then
      p[1].save(p[2], p[3], p[4], p[5])
    else
      -- Nothing is charged: report what is there, with no retry of its own.
      local d0 = p[1].step(p[6], p[5], now, 0)
      local o = p[7]
      out[o + 1] = 0
      out[o + 2] = d0[2]
      out[o + 3] = d0[3]
    end
  end
end
return out
