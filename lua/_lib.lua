-- smartlimit shared prelude: whole-number helpers and the algorithm table.
-- Every script is this file, one or more algorithm files and _run.lua,
-- joined in that order (see README.md). Numbers are doubles here, exact up to
-- 2^53; every value stays below that, and division goes through idiv so that
-- a quotient is never rounded up across an integer.
local floor = math.floor

local function idiv(a, b)
  local q = floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local function ceildiv(a, b)
  return idiv(a + b - 1, b)
end

-- Milliseconds for PEXPIRE / SET PX, rounded up so a key never outlives its
-- meaning by less than it should: at expiry the state is back to full anyway.
local function ms(us)
  return ceildiv(us, 1000)
end

-- ahead: ticks (1/R µs) by which the instant us + frac/R lies after now,
-- clamped to [0, cap]. A clock behind the state makes the limit stricter.
local function ahead(it, us, frac, now)
  local dd = us - now
  if dd < 0 or (dd == 0 and frac <= 0) then
    return 0
  end
  if dd > idiv(it.cap, it.R) then
    return it.cap
  end
  local d = dd * it.R + frac
  if d > it.cap then
    return it.cap
  end
  return d
end

-- bucket: decide cost n against a backlog of d ticks (0 = full bucket).
-- Returns the decision and the backlog after it.
local function bucket(it, d, n, shaping)
  local P, R, cap = it.P, it.R, it.cap
  if n > it.B then
    return {0, idiv(cap - d, P), ceildiv(d, R), -1, 0}, d
  end
  local nd = d + n * P
  if nd > cap then
    return {0, idiv(cap - d, P), ceildiv(d, R), ceildiv(nd - cap, R), 0}, d
  end
  local delay = 0
  if shaping then
    delay = ceildiv(d, R)
  end
  return {1, idiv(cap - nd, P), ceildiv(nd, R), 0, delay}, nd
end

local ALG = {}
