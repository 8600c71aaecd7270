-- smartlimit:sliding_window v4
-- Exact sliding window log: a sorted set with one member per accepted unit,
-- scored by its instant in µs. At most R units in any window (now-P, now].
-- Memory is O(R) per key: prefer the counter for large limits.
ALG[3] = function(key, now, P, R, _, n, commit)
  local newest = 0
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    newest = tonumber(last[2])
    if now < newest then
      now = newest -- monotonic guard: never before the newest entry
    end
    -- Pruning changes no decision, so it is done even when not committing.
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - P)
  end
  local count = 0
  if newest > 0 then
    count = redis.call('ZCARD', key)
  end
  local reset = 0
  if count > 0 then
    reset = newest + P - now
  end
  if n > R then
    return 0, R - count, reset, -1, 0
  end
  if count + n > R then
    -- The (count+n-R)-th oldest entry must leave the window first.
    local k = count + n - R - 1
    local e = redis.call('ZRANGE', key, k, k, 'WITHSCORES')
    return 0, R - count, reset, tonumber(e[2]) + P - now, 0
  end
  if n > 0 then
    reset = P
  end
  if commit and n > 0 then
    local i = 0
    while i < n do
      local args = {'ZADD', key}
      local j = 0
      while j < 128 and i < n do
        i = i + 1
        j = j + 1
        -- Unique: at one instant the pruned count only grows.
        args[#args + 1] = now
        args[#args + 1] = string.format('%d:%d', now, count + i)
      end
      redis.call(unpack(args))
    end
    redis.call('PEXPIRE', key, ceil(reset / 1000))
  end
  return 1, R - count - n, reset, 0, 0
end
