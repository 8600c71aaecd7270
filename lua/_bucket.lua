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

-- tat decides cost n against the TAT (us + frac/R): the backlog is how far
-- it lies after now, clamped to [0, cap]; a clock behind the state makes
-- the limit stricter, never looser. When it was clamped, reset and retry
-- are measured from now to the real TAT. GCRA, the leaky bucket and the
-- token bucket share it.
local function tat(us, frac, now, P, R, B, n, shaping)
  local d, cap, dd = 0, B * P, us - now
  local over = false
  if dd > floor(cap / R) then
    d, over = cap, true
  elseif dd > 0 or (dd == 0 and frac > 0) then
    d = dd * R + frac
    if d > cap then
      d, over = cap, true
    end
  end
  local ok, rem, reset, retry, delay, nd = bucket(d, P, R, B, n, shaping)
  if over then
    reset = dd + ceil(frac / R)
    if ok == 0 and retry ~= -1 then
      retry = dd + ceil((frac + n * P - cap) / R)
    end
  end
  return ok, rem, reset, retry, delay, nd
end
