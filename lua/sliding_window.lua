-- smartlimit:sliding_window v1
-- Exact sliding window log: a sorted set with one member per accepted unit,
-- scored by its instant in µs. At most R units in any window (now-P, now].
-- Memory is O(R) per key: prefer the counter for large limits.
ALG[3] = {
  load = function(key, now, it)
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local newest = 0
    if last[2] then
      newest = tonumber(last[2])
    end
    if now < newest then
      now = newest -- monotonic guard: never before the newest entry
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - it.P)
    return {now, redis.call('ZCARD', key), newest, key}
  end,
  step = function(s, it, _, n)
    local now, count = s[1], s[2]
    local R = it.R
    local reset = 0
    if count > 0 then
      reset = s[3] + it.P - now
    end
    if n > R then
      return {0, R - count, reset, -1, 0}, s
    end
    if count + n > R then
      -- The (count+n-R)-th oldest entry must leave the window first.
      local k = count + n - R - 1
      local e = redis.call('ZRANGE', s[4], k, k, 'WITHSCORES')
      return {0, R - count, reset, tonumber(e[2]) + it.P - now, 0}, s
    end
    if n > 0 then
      reset = it.P
    end
    return {1, R - count - n, reset, 0, 0}, {now, count, n}
  end,
  save = function(key, s, reset)
    local now, count, n = s[1], s[2], s[3]
    local i = 0
    while i < n do
      local args = {'ZADD', key}
      local j = 0
      while j < 128 and i < n do
        i = i + 1
        j = j + 1
        -- Members are unique: at one instant the pruned count only grows.
        args[#args + 1] = now
        args[#args + 1] = string.format('%d:%d', now, count + i)
      end
      redis.call(unpack(args))
    end
    redis.call('PEXPIRE', key, ms(reset))
  end,
}
