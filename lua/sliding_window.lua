-- smartlimit:sliding_window v5
-- Exact sliding window log: at most R units in any window (now-P, now]. A
-- sorted set with one member per accepted request (not per unit, so one
-- check adds one member whatever its cost), scored by its instant in µs.
-- The member is two 16-digit numbers: a generation and the units accepted
-- through this request, cumulative modulo 2^52 (so exact however long the
-- key stays busy), the generation counting the wraps, so that members at
-- one instant sort in the order they came. Besides the window's members the
-- set keeps the newest member that has left it, the anchor: the window
-- holds the newest member's count less the anchor's (less 0 while none has
-- left). Members older than the anchor are dropped, at most 64 a call, so
-- no call does unbounded work.
ALG[3] = function(key, now, P, R, _, n, commit)
  local M = 4503599627370496 -- 2^52
  local t, gen, ncum, base, first, count, reset = now, 0, 0, 0, 0, 0, 0
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[1] then
    local nt = num(last[2])
    gen, ncum = tonumber(string.sub(last[1], 1, 16)), tonumber(string.sub(last[1], 17))
    if t < nt then
      t = nt -- monotonic guard: never before the newest member
    end
    local k = redis.call('ZCOUNT', key, '-inf', t - P) -- members out of the window
    if k > 0 then
      local drop = k - 1
      if drop > 64 then
        drop = 64
      end
      if drop > 0 then
        -- Pruning changes no decision, so it is done even when not committing.
        redis.call('ZREMRANGEBYRANK', key, 0, drop - 1)
      end
      first = k - drop -- the rank of the window's oldest member
      base = tonumber(string.sub(redis.call('ZRANGE', key, first - 1, first - 1)[1], 17))
    end
    count = (ncum - base) % M
    if count > 0 then
      reset = nt + P - now
    end
  end
  if n > R then
    return 0, R - count, reset, -1, 0
  end
  local need = count + n - R
  if need > 0 then
    -- The oldest member whose leaving frees need units leaves at its
    -- instant + P: a binary search over the window's ranks.
    local lo, hi = first, redis.call('ZCARD', key) - 1
    while lo < hi do
      local m = floor((lo + hi) / 2)
      if (tonumber(string.sub(redis.call('ZRANGE', key, m, m)[1], 17)) - base) % M >= need then
        hi = m
      else
        lo = m + 1
      end
    end
    return 0, R - count, reset, num(redis.call('ZRANGE', key, lo, lo, 'WITHSCORES')[2]) + P - now, 0
  end
  if n > 0 then
    reset = t + P - now
  end
  if commit and n > 0 then
    local c = ncum + n
    if c >= M then
      c, gen = c - M, gen + 1
    end
    redis.call('ZADD', key, t, string.format('%016d%016d', gen, c))
    redis.call('PEXPIRE', key, ceil(reset / 1000))
  end
  return 1, R - count - n, reset, 0, 0
end
