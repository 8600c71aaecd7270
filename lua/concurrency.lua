-- smartlimit:concurrency v1
-- Concurrency: a sorted set of lease IDs scored by their deadline in µs. At
-- most R leases are in flight; a lease leaves when released or when its
-- deadline (acquired at now, held for P µs) passes.
ALG[6] = {
  load = function(key, now)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local count = redis.call('ZCARD', key)
    if count == 0 then
      return {0, 0, 0}
    end
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    return {count, tonumber(first[2]), tonumber(last[2])}
  end,
  step = function(s, it, now, n)
    local count, R = s[1], it.R
    local reset = 0
    if count > 0 then
      reset = s[3] - now
    end
    if n > R then
      return {0, R - count, reset, -1, 0}, s
    end
    if count + n > R then
      return {0, R - count, reset, s[2] - now, 0}, s
    end
    if n > 0 and reset < it.P then
      reset = it.P
    end
    return {1, R - count - n, reset, 0, 0}, {now + it.P}
  end,
  save = function(key, s, reset, it)
    redis.call('ZADD', key, s[1], it.id)
    redis.call('PEXPIRE', key, ms(reset))
  end,
}
