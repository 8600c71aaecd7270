-- smartlimit shared prelude. Every script is this file, its algorithm files
-- and _run.lua, joined in that order (see README.md). The script body runs
-- on every call, and each function it defines is a new closure each time,
-- so helpers are few: they cost Redis CPU on every check.
--
-- Numbers are doubles, exact up to 2^53. The Go side (internal/algo) keeps
-- every operand of a division at or below 2^52 and every divisor at or below
-- 2^51, and under those bounds math.floor(a / b) and math.ceil(a / b) are
-- the exact integer quotients: a quotient within 1/b of an integer is never
-- rounded onto it. So plain floor and ceil give Go's integer division.
--
-- Stored state is whole numbers separated by spaces. A number handed to
-- redis.call is written with %.17g, exact for integers below 2^53; never
-- tostring() or .. a number, which real Redis prints with 14 digits.
local floor, ceil = math.floor, math.ceil

-- num parses a sorted-set score. Real Redis writes scores with %.17g, which
-- for these whole numbers below 2^53 is plain digits; miniredis writes the
-- shortest form, such as 1e+12, and its gopher-lua's tonumber takes an
-- exponent only after a mantissa with a point ("1.5e+12", not "1e+12").
local function num(s)
  return tonumber(s) or tonumber((string.gsub(s, '[eE]', '.0e', 1)))
end

-- PRE holds the string keys that a batch read with one MGET, by key (false:
-- absent). An algorithm reads PRE before it GETs and clears a key's entry
-- when it writes the key, so a key that comes twice in a batch sees its
-- first item's write.
local PRE = {}

-- STRING[f] is true for the ALG functions whose state is one string key,
-- which read PRE and write with put; the others keep sorted sets.
local STRING = {}

-- ID[f] is true for the ALG functions whose B is a lease ID; every other
-- one gets B as a number.
local ID = {}

-- put writes a string state that expires in ms. MGET reads a key of another
-- type as absent, as it does an absent key, so a key it read as absent is
-- written only if it still does not exist (NX); if it does, it holds another
-- type, and GET fails on it with WRONGTYPE, as for a call of one item,
-- rather than SET overwrite it.
local function put(key, v, ms)
  if PRE[key] == false then
    PRE[key] = nil
    if not redis.call('SET', key, v, 'PX', ms, 'NX') then
      redis.call('GET', key)
    end
    return
  end
  PRE[key] = nil
  redis.call('SET', key, v, 'PX', ms)
end

-- ALG[code] = function(key, now, P, R, B, n, commit) decides cost n for one
-- key and writes the new state only when commit is true and the request is
-- allowed with n > 0. It returns allowed (1 or 0), remaining, reset_after,
-- retry_after (-1 for never) and delay: whole numbers, durations in µs.
local ALG = {}
