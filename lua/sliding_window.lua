-- smartlimit:sliding_window v5 s1
-- Exact sliding window log: at most R units in any window (now-P, now]. A
-- sorted set with one member per accepted request (not per unit, so one
-- check adds one member whatever its cost), scored by its instant in µs.
-- The member is three 16-digit numbers: a generation, the units accepted
-- before this request (modulo 2^52, so exact however long the key stays
-- busy; the generation counts the wraps, so that members of one instant
-- sort in the order they came) and its cost. The window holds the newest
-- member's before+cost less the before of the window's oldest member, so
-- members that left the window need not be kept: an accepted request drops
-- up to 64 of them (no call does unbounded work). Only members that left
-- the window of a newer member are dropped, and every later check's window
-- starts after those (time does not run back before the newest member).
ALG[3] = function(key, now, P, R, _, n, commit)
  local M = 4503599627370496 -- 2^52
  local t, gen, nb, nn, k, base, count, reset = now, 0, 0, 0, 0, 0, 0, 0
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[1] then
    local nt = num(last[2])
    local m = last[1]
    gen, nb, nn = tonumber(string.sub(m, 1, 16)), tonumber(string.sub(m, 17, 32)), tonumber(string.sub(m, 33))
    if t < nt then
      t = nt -- monotonic guard: never before the newest member
    end
    k = redis.call('ZCOUNT', key, '-inf', t - P) -- out of the window: the window's oldest has rank k
    local first = redis.call('ZRANGE', key, k, k)[1]
    if first then
      base = tonumber(string.sub(first, 17, 32))
      count = (nb + nn - base) % M
      reset = nt + P - now
    end
  end
  if n > R then
    return 0, R - count, reset, -1, 0
  end
  local need = count + n - R
  if need > 0 then
    -- The oldest member whose leaving frees need units leaves at its
    -- instant + P (the newest frees count >= need): a binary search.
    local lo, hi = k, redis.call('ZCARD', key) - 1
    while lo < hi do
      local mid = floor((lo + hi) / 2)
      local e = redis.call('ZRANGE', key, mid, mid)[1]
      if (tonumber(string.sub(e, 17, 32)) + tonumber(string.sub(e, 33)) - base) % M >= need then
        hi = mid
      else
        lo = mid + 1
      end
    end
    return 0, R - count, reset, num(redis.call('ZRANGE', key, lo, lo, 'WITHSCORES')[2]) + P - now, 0
  end
  if n > 0 then
    reset = t + P - now
  end
  if commit and n > 0 then
    if k > 0 then
      if k > 64 then
        k = 64
      end
      redis.call('ZREMRANGEBYRANK', key, 0, k - 1)
    end
    local b = nb + nn
    if b >= M then
      b, gen = b - M, gen + 1
    end
    redis.call('ZADD', key, t, string.format('%016d%016d%016d', gen, b, n))
    redis.call('PEXPIRE', key, ceil(reset / 1000))
  end
  return 1, R - count - n, reset, 0, 0
end
