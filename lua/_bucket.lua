-- The decision shared by GCRA, the leaky bucket and the token bucket: cost n
-- against a backlog of d ticks (1/R µs; 0 = full) with capacity B*P ticks.
-- Returns the five results and the backlog after the request.
local function bucket(d, P, R, B, n, shaping)
  local cap = B * P
  if n > B then
    return 0, floor((cap - d) / P), ceil(d / R), -1, 0, d
  end
  local nd = d + n * P
  if nd > cap then
    return 0, floor((cap - d) / P), ceil(d / R), ceil((nd - cap) / R), 0, d
  end
  local delay = 0
  if shaping then
    delay = ceil(d / R) -- the request waits behind the backlog already queued
  end
  return 1, floor((cap - nd) / P), ceil(nd / R), 0, delay, nd
end
