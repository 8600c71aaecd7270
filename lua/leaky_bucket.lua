-- smartlimit:leaky_bucket v1
-- Leaky bucket as a meter that shapes: the same state and arithmetic as GCRA
-- (the next free slot), but an admitted request is told how long to wait
-- (Delay) behind the queue, and capacity counts the request being served.
-- Requires gcra.lua's gcra() in the same script.
ALG[5] = gcra(true)
