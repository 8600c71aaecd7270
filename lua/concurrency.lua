-- smartlimit:concurrency v5 s1
-- Concurrency: a sorted set of lease IDs scored by their deadline in µs. At
-- most R leases are in flight; a lease leaves when released or when its
-- deadline (acquired at now, held for P µs) passes. B carries the lease ID.
-- The member "hw" (a reserved lease ID: release ignores it), scored
-- -1-HW, holds the instant the newest lease was taken at: while a lease is
-- in flight the key's time does not run below it, so a clock that steps
-- back cannot date leases early (and, once corrected, let more than R be in
-- flight). Durations are measured from now.
ALG[6] = function(key, now, P, R, id, n, commit)
  local t = now
  local hw = redis.call('ZSCORE', key, 'hw')
  if hw then
    hw = -1 - num(hw)
    if t < hw then
      t = hw
    end
  end
  redis.call('ZREMRANGEBYSCORE', key, 0, t)
  local count = redis.call('ZCOUNT', key, '(0', '+inf')
  local first, reset = 0, 0
  if count > 0 then
    first = num(redis.call('ZRANGEBYSCORE', key, '(0', '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2])
    reset = num(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]) - now
  else
    t = now -- no lease in flight: nothing to protect, HW is forgotten
  end
  if n > R then
    return 0, R - count, reset, -1, 0
  end
  if count + n > R then
    return 0, R - count, reset, first - now, 0
  end
  if n > 0 and reset < t + P - now then
    reset = t + P - now
  end
  if commit and n > 0 then
    redis.call('ZADD', key, t + P, id, -1 - t, 'hw')
    redis.call('PEXPIRE', key, ceil(reset / 1000))
  end
  return 1, R - count - n, reset, 0, 0
end
ID[ALG[6]] = true
