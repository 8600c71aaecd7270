-- smartlimit:leaky_bucket v5 s1
-- Leaky bucket as a meter that shapes: GCRA's state and arithmetic (the next
-- free slot), but an admitted request is told how long to wait (delay)
-- behind the queue, and capacity counts the request being served. Needs
-- gcra.lua in the same script.
ALG[5] = function(key, now, P, R, B, n, commit)
  return gcra(key, now, P, R, B, n, commit, true)
end
STRING[ALG[5]] = true
