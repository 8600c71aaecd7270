-- smartlimit:concurrency v4
-- Concurrency: a sorted set of lease IDs scored by their deadline in µs. At
-- most R leases are in flight; a lease leaves when released or when its
-- deadline (acquired at now, held for P µs) passes. B carries the lease ID.
ALG[6] = function(key, now, P, R, id, n, commit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local count = redis.call('ZCARD', key)
  local first, last = 0, 0
  if count > 0 then
    first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    last = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
  end
  local reset = 0
  if count > 0 then
    reset = last - now
  end
  if n > R then
    return 0, R - count, reset, -1, 0
  end
  if count + n > R then
    return 0, R - count, reset, first - now, 0
  end
  if n > 0 and reset < P then
    reset = P
  end
  if commit and n > 0 then
    redis.call('ZADD', key, now + P, id)
    redis.call('PEXPIRE', key, ceil(reset / 1000))
  end
  return 1, R - count - n, reset, 0, 0
end
ID[ALG[6]] = true
