package limitertest

import (
	"time"

	"github.com/smartlimit/smartlimit"
)

const (
	us = time.Microsecond
	ms = time.Millisecond
	s  = time.Second
)

// tables hold the step sequences of every algorithm. The comments derive
// the non-obvious rows from that contract: bucket algorithms count time in
// ticks of 1/R µs with period/rate = P/R in lowest terms, one unit costs P
// ticks, capacity is Burst·P ticks; Remaining = ⌊(cap-backlog)/P⌋,
// ResetAfter = ⌈backlog/R⌉ µs, RetryAfter = ⌈(backlog+cost·P-cap)/R⌉ µs.
var tables = []table{
	{
		name:  "gcra/10per1s",
		rule:  "GCRA holds Burst units refilled continuously at Rate/Period; a denied request consumes nothing",
		limit: smartlimit.PerSecond(10), // P=100000 ticks/unit, R=1 tick/µs, cap 1e6
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 9, resetAfter: 100 * ms},
			{at: 0, cost: 9, allowed: true, remaining: 0, resetAfter: s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: s},
			// 100 ms later one unit has come back.
			{at: 100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			// Backlog 950000 ticks: half a unit short.
			{at: 150 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 50 * ms, resetAfter: 950 * ms},
			{at: 150 * ms, op: opPeek, allowed: false, remaining: 0, retryAfter: 50 * ms, resetAfter: 950 * ms},
			{at: 150 * ms, cost: 0, allowed: true, remaining: 0, resetAfter: 950 * ms},
			{at: 150 * ms, cost: 11, allowed: false, remaining: 0, retryAfter: smartlimit.Never, resetAfter: 950 * ms},
			{at: 150 * ms, key: "other", cost: 1, allowed: true, remaining: 9, resetAfter: 100 * ms},
			{at: 2 * s, cost: 0, allowed: true, remaining: 10},
			{at: 2 * s, cost: 10, allowed: true, remaining: 0, resetAfter: s},
			{at: 2 * s, op: opReset},
			{at: 2 * s, cost: 0, allowed: true, remaining: 10},
		},
	},
	{
		name: "gcra/6per1s",
		rule: "arithmetic is exact: 6/s is a unit every 166666⅔ µs (a float GCRA says Remaining 4 after one request)",
		// gcd(1e6, 6) = 2: P = 500000, R = 3, cap = 3e6 ticks.
		limit: smartlimit.PerSecond(6),
		steps: []step{
			// ResetAfter ⌈500000/3⌉ = 166667 µs.
			{at: 0, cost: 1, allowed: true, remaining: 5, resetAfter: 166667 * us},
			{at: 0, cost: 5, allowed: true, remaining: 0, resetAfter: s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 166667 * us, resetAfter: s},
			// Backlog (1e6-166666)·3 = 2500002: 2 ticks too many, ⌈2/3⌉ = 1 µs.
			{at: 166666 * us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 833334 * us},
			// Backlog 2499999 → 2999999; TAT = T0+1166666 µs + 2/3 µs.
			{at: 166667 * us, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			// Backlog 833333·3+2 = 2500001: 1 tick too many.
			{at: 333333 * us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 833334 * us},
			// Backlog 2499998 → 2999998; ⌈2999998/3⌉ = 1e6.
			{at: 333334 * us, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			{at: 2 * s, cost: 0, allowed: true, remaining: 6},
		},
	},
	{
		name:  "gcra/7per1s",
		rule:  "arithmetic is exact: 7/s is a unit every 142857 1/7 µs",
		limit: smartlimit.PerSecond(7), // P = 1e6, R = 7, cap = 7e6 ticks
		steps: []step{
			{at: 0, cost: 7, allowed: true, remaining: 0, resetAfter: s},
			// Backlog 857143·7 = 6000001: 1 tick too many; reset ⌈6000001/7⌉.
			{at: 142857 * us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 857143 * us},
			// Backlog 857142·7 = 5999994 → 6999994; TAT = T0+1142857 µs + 1/7.
			{at: 142858 * us, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			// Backlog 999999·7+1 = 6999994; a unit more is 999994 ticks over: ⌈999994/7⌉.
			{at: 142858 * us, op: opPeek, allowed: false, remaining: 0, retryAfter: 142857 * us, resetAfter: s},
		},
	},
	{
		name:  "gcra/1per1s-burst3",
		rule:  "bucket algorithms hold Burst units, not Rate",
		limit: smartlimit.Limit{Rate: 1, Period: s, Burst: 3},
		steps: []step{
			{at: 0, cost: 3, allowed: true, remaining: 0, resetAfter: 3 * s},
			{at: s, cost: 1, allowed: true, remaining: 0, resetAfter: 3 * s},
			{at: s, cost: 1, allowed: false, remaining: 0, retryAfter: s, resetAfter: 3 * s},
			{at: s, cost: 4, allowed: false, remaining: 0, retryAfter: smartlimit.Never, resetAfter: 3 * s},
			{at: 3 * s, cost: 0, allowed: true, remaining: 2, resetAfter: s},
		},
	},
	{
		name:  "token_bucket/10per1s-burst5",
		rule:  "a token bucket starts full at Burst and refills continuously; it decides as GCRA",
		limit: smartlimit.Limit{Algorithm: smartlimit.TokenBucket, Rate: 10, Period: s, Burst: 5}, // P=1e5, R=1, cap 5e5
		steps: []step{
			{at: 0, cost: 5, allowed: true, remaining: 0, resetAfter: 500 * ms},
			// 50 ms refilled half a token: 450000 ticks missing.
			{at: 50 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 50 * ms, resetAfter: 450 * ms},
			{at: 100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 500 * ms},
			// 2.5 tokens back, 2 taken: 450000 missing.
			{at: 350 * ms, cost: 2, allowed: true, remaining: 0, resetAfter: 450 * ms},
			{at: 400 * ms, op: opPeek, allowed: true, remaining: 1, resetAfter: 400 * ms},
			{at: 400 * ms, cost: 0, allowed: true, remaining: 1, resetAfter: 400 * ms},
			{at: 400 * ms, cost: 6, allowed: false, remaining: 1, retryAfter: smartlimit.Never, resetAfter: 400 * ms},
			{at: 2 * s, cost: 1, allowed: true, remaining: 4, resetAfter: 100 * ms},
		},
	},
	{
		name:  "token_bucket/6per1s",
		rule:  "arithmetic is exact: the token bucket refills 3 ticks a µs at 6/s",
		limit: smartlimit.Limit{Algorithm: smartlimit.TokenBucket, Rate: 6, Period: s}, // P=5e5, R=3, cap 3e6
		steps: []step{
			{at: 0, cost: 6, allowed: true, remaining: 0, resetAfter: s},
			// 166666 µs refill 499998 ticks: 2500002 missing.
			{at: 166666 * us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 833334 * us},
			{at: 166667 * us, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			// 2999999 - 499998 = 2500001 missing.
			{at: 333333 * us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 833334 * us},
			{at: 333334 * us, cost: 1, allowed: true, remaining: 0, resetAfter: s},
		},
	},
	{
		name:  "leaky_bucket/1per1s-burst3",
		rule:  "leaky bucket: capacity counts the request being served, so burst 3 at 1/s gives Delays 0, 1s, 2s, then a denial",
		limit: smartlimit.Limit{Algorithm: smartlimit.LeakyBucket, Rate: 1, Period: s, Burst: 3},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 2, resetAfter: s},
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: 2 * s, delay: s},
			{at: 0, cost: 1, allowed: true, remaining: 0, resetAfter: 3 * s, delay: 2 * s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: s, resetAfter: 3 * s},
			{at: 0, op: opPeek, allowed: false, remaining: 0, retryAfter: s, resetAfter: 3 * s},
			{at: 500 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 500 * ms, resetAfter: 2500 * ms},
			// A peek that would pass reports the Delay it would get.
			{at: s, op: opPeek, allowed: true, remaining: 1, resetAfter: 2 * s, delay: 2 * s},
			{at: s, cost: 1, allowed: true, remaining: 0, resetAfter: 3 * s, delay: 2 * s},
			{at: s, cost: 4, allowed: false, remaining: 0, retryAfter: smartlimit.Never, resetAfter: 3 * s},
		},
	},
	{
		name:  "leaky_bucket/7per1s-burst2",
		rule:  "leaky bucket Delays are exact: ⌈backlog/R⌉ µs",
		limit: smartlimit.Limit{Algorithm: smartlimit.LeakyBucket, Rate: 7, Period: s, Burst: 2}, // P=1e6, R=7, cap 2e6
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: 142858 * us},
			// Waits ⌈1e6/7⌉ behind the first; reset ⌈2e6/7⌉.
			{at: 0, cost: 1, allowed: true, remaining: 0, resetAfter: 285715 * us, delay: 142858 * us},
			// TAT = 285714 µs + 2/7; backlog at 1 µs: 285713·7+2 = 1999993.
			{at: us, cost: 1, allowed: false, remaining: 0, retryAfter: 142857 * us, resetAfter: 285714 * us},
		},
	},
	{
		name:  "fixed_window/3per1s",
		rule:  "fixed windows are aligned to multiples of the period since the Unix epoch; Rate units per window",
		limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 3, Period: s},
		steps: []step{
			{at: 0, cost: 2, allowed: true, remaining: 1, resetAfter: s},
			{at: 999 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: ms},
			{at: 999999 * us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: us},
			{at: s, cost: 1, allowed: true, remaining: 2, resetAfter: s},
			{at: s, cost: 4, allowed: false, remaining: 2, retryAfter: smartlimit.Never, resetAfter: s},
			{at: 1500 * ms, op: opPeek, allowed: true, remaining: 2, resetAfter: 500 * ms},
			{at: 1500 * ms, cost: 0, allowed: true, remaining: 2, resetAfter: 500 * ms},
			{at: 1500 * ms, cost: 3, allowed: false, remaining: 2, retryAfter: 500 * ms, resetAfter: 500 * ms},
			{at: 1500 * ms, op: opReset},
			{at: 1500 * ms, cost: 3, allowed: true, remaining: 0, resetAfter: 500 * ms},
			{at: 3 * s, cost: 0, allowed: true, remaining: 3},
		},
	},
	{
		name:  "fixed_window/3per7s",
		rule:  "fixed windows are aligned to the epoch, not to the first request: T0 is 2 s into a 7 s window",
		limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 3, Period: 7 * s},
		steps: []step{
			{at: 0, cost: 3, allowed: true, remaining: 0, resetAfter: 5 * s},
			{at: 5*s - us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: us},
			{at: 5 * s, cost: 1, allowed: true, remaining: 2, resetAfter: 7 * s},
		},
	},
	{
		name:  "sliding_window/3per1s",
		rule:  "the sliding window log allows at most Rate units in any window (now-Period, now]",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: s},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 2, resetAfter: s},
			{at: 200 * ms, cost: 1, allowed: true, remaining: 1, resetAfter: s},
			{at: 400 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			// The oldest unit (at 0) leaves at 1 s; the newest at 1.4 s.
			{at: 600 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 400 * ms, resetAfter: 800 * ms},
			{at: 600 * ms, op: opPeek, allowed: false, remaining: 0, retryAfter: 400 * ms, resetAfter: 800 * ms},
			// The unit at 0 is out of (0, 1s]: log 200, 400, 1000.
			{at: s, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			// Two units must leave: the second oldest (400 ms) leaves at 1.4 s.
			{at: s, cost: 2, allowed: false, remaining: 0, retryAfter: 400 * ms, resetAfter: s},
			{at: s, cost: 4, allowed: false, remaining: 0, retryAfter: smartlimit.Never, resetAfter: s},
			// A peek that would pass adds nothing to the log.
			{at: 1400 * ms, op: opPeek, allowed: true, remaining: 2, resetAfter: 600 * ms},
			{at: 1400 * ms, cost: 2, allowed: true, remaining: 0, resetAfter: s},
			{at: 1400 * ms, cost: 0, allowed: true, remaining: 0, resetAfter: s},
			{at: 3 * s, cost: 0, allowed: true, remaining: 3},
		},
	},
	{
		name: "sliding_window_counter/10per1s",
		rule: "the sliding window counter weighs the previous window by its overlap: prev·(P-elapsed)/P + curr ≤ Rate, in whole numbers",
		// P = 1e6 µs, R = 10; comparisons are multiplied out by P.
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindowCounter, Rate: 10, Period: s},
		steps: []step{
			// ResetAfter: the current window's count matters until two windows on.
			{at: 0, cost: 6, allowed: true, remaining: 4, resetAfter: 2 * s},
			{at: 500 * ms, cost: 4, allowed: true, remaining: 0, resetAfter: 1500 * ms},
			// New window: prev 10 at full weight. It must shrink to 9: 100 ms.
			{at: s, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: s},
			// Weight 0.9: 9 + 1 = 10.
			{at: 1100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 1900 * ms},
			// Weight 0.45: ⌈4.5⌉ + 2 = 7 used.
			{at: 1550 * ms, cost: 1, allowed: true, remaining: 3, resetAfter: 1450 * ms},
			{at: 1550 * ms, op: opPeek, allowed: true, remaining: 3, resetAfter: 1450 * ms},
			// 4.5 + 2 + 4 > 10: wait until 10·w ≤ (10-2-4)·P, w = 0.4: 50 ms.
			{at: 1550 * ms, cost: 4, allowed: false, remaining: 3, retryAfter: 50 * ms, resetAfter: 1450 * ms},
			{at: 1550 * ms, cost: 11, allowed: false, remaining: 3, retryAfter: smartlimit.Never, resetAfter: 1450 * ms},
			// 2 + 9 > 10 in this window: next window, prev' = 2 must weigh ≤ 1: at 2.5 s.
			{at: 2*s - us, cost: 9, allowed: false, remaining: 7, retryAfter: 500*ms + us, resetAfter: s + us},
			{at: 2500 * ms, cost: 9, allowed: true, remaining: 0, resetAfter: 1500 * ms},
			{at: 5 * s, cost: 0, allowed: true, remaining: 10},
		},
	},
	{
		name:  "sliding_window_counter/7per1s",
		rule:  "the sliding window counter rounds nothing: at 7/s the weights are sevenths",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindowCounter, Rate: 7, Period: s},
		steps: []step{
			{at: 0, cost: 7, allowed: true, remaining: 0, resetAfter: 2 * s},
			// prev 7 at weight 0.7 = 4.9, +1: Remaining 7-1-⌈4.9⌉ = 1.
			{at: 1300 * ms, cost: 1, allowed: true, remaining: 1, resetAfter: 1700 * ms},
			// 4.9 + 3 > 7: weight must fall to ⌊4e6/7⌋ = 571428 µs of 1e6.
			{at: 1300 * ms, cost: 2, allowed: false, remaining: 1, retryAfter: 128572 * us, resetAfter: 1700 * ms},
			{at: 1428571 * us, cost: 2, allowed: false, remaining: 1, retryAfter: us, resetAfter: 1571429 * us},
			{at: 1428572 * us, cost: 2, allowed: true, remaining: 0, resetAfter: 1571428 * us},
		},
	},
	{
		name:  "concurrency/2per10s",
		rule:  "concurrency allows at most Rate leases in flight; a lease leaves when released or Period after it was taken",
		limit: smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: 10 * s},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: 10 * s},
			{at: s, cost: 1, allowed: true, remaining: 0, resetAfter: 10 * s},
			// The first lease ends at 10 s, the last at 11 s.
			{at: 2 * s, cost: 1, allowed: false, remaining: 0, retryAfter: 8 * s, resetAfter: 9 * s},
			{at: 2 * s, op: opPeek, allowed: false, remaining: 0, retryAfter: 8 * s, resetAfter: 9 * s},
			{at: 2 * s, cost: 0, allowed: true, remaining: 0, resetAfter: 9 * s},
			// A peek that would pass takes no lease.
			{at: 10 * s, op: opPeek, allowed: true, remaining: 1, resetAfter: s},
			{at: 10 * s, cost: 1, allowed: true, remaining: 0, resetAfter: 10 * s},
			{at: 25 * s, cost: 0, allowed: true, remaining: 2},
		},
	},
}

// jumpBack is x/time/rate's TestLimiterJumpBackwards table (10/s, burst 3,
// a request at t1 = T0+100ms, then the clock back at t0 = T0) as GCRA
// decides it: the TAT stays where it was, so the time the clock stepped back
// counts as used. TokenBucket must decide exactly the same.
func jumpBack(a smartlimit.Algorithm) table {
	return table{
		name:  a.String() + "/jump-backwards",
		rule:  "time never runs backwards for a key, and TokenBucket decides exactly as GCRA, also when the clock steps back",
		limit: smartlimit.Limit{Algorithm: a, Rate: 10, Period: s, Burst: 3},
		steps: []step{
			{at: 100 * ms, cost: 1, allowed: true, remaining: 2, resetAfter: 100 * ms},
			// The TAT (T0+200ms) is 200 ms ahead of the clock: 2 units used.
			{at: 0, cost: 1, allowed: true, remaining: 0, resetAfter: 300 * ms},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
			{at: 100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 300 * ms},
			{at: 100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
			{at: 100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
			{at: 200 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 300 * ms},
			{at: 200 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
			{at: 200 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 300 * ms},
		},
	}
}

// behind is a GCRA or TokenBucket table of 10/s burst 2 with the clock
// behind the key's state by more than the capacity: RetryAfter is measured
// on the clock that decides, to the real TAT.
func behind(a smartlimit.Algorithm) table {
	return table{
		name:  a.String() + "/clock-behind",
		rule:  "RetryAfter is the earliest time after which the same request passes, on the clock that decides, also when that clock is behind the key's state",
		limit: smartlimit.Limit{Algorithm: a, Rate: 10, Period: s, Burst: 2},
		steps: []step{
			{at: 0, cost: 2, allowed: true, remaining: 0, resetAfter: 200 * ms},
			// The TAT is T0+200ms, 300 ms ahead: one unit is back at T0+100ms.
			{at: -100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 200 * ms, resetAfter: 300 * ms},
			{at: -100 * ms, op: opPeek, allowed: false, remaining: 0, retryAfter: 200 * ms, resetAfter: 300 * ms},
			{at: -100 * ms, cost: 3, allowed: false, remaining: 0, retryAfter: smartlimit.Never, resetAfter: 300 * ms},
			{at: -100 * ms, cost: 0, allowed: true, remaining: 0, resetAfter: 300 * ms},
			{at: 100*ms - us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 100*ms + us},
			{at: 100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 200 * ms},
		},
	}
}

// clockTables are the cases of time that steps back and of instants that
// servers format unusually; each holds for every tier.
var clockTables = []table{
	jumpBack(smartlimit.GCRA),
	jumpBack(smartlimit.TokenBucket),
	behind(smartlimit.GCRA),
	behind(smartlimit.TokenBucket),
	{
		name:  "leaky_bucket/clock-behind",
		rule:  "RetryAfter is measured on the clock that decides, also when it is behind the key's state",
		limit: smartlimit.Limit{Algorithm: smartlimit.LeakyBucket, Rate: 1, Period: s, Burst: 3},
		steps: []step{
			{at: 0, cost: 3, allowed: true, remaining: 0, resetAfter: 3 * s},
			// The queue ends at T0+3s, 3.1 s ahead: a slot is free at T0+1s.
			{at: -100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 1100 * ms, resetAfter: 3100 * ms},
			{at: s, cost: 1, allowed: true, remaining: 0, resetAfter: 3 * s, delay: 2 * s},
		},
	},
	{
		name:  "fixed_window/clock-behind",
		rule:  "fixed windows never return to an earlier window, and RetryAfter is measured on the clock that decides",
		limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 3, Period: s},
		steps: []step{
			{at: 0, cost: 3, allowed: true, remaining: 0, resetAfter: s},
			// Decided in the window [T0, T0+1s), which ends 1.1 s from now.
			{at: -100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 1100 * ms, resetAfter: 1100 * ms},
			{at: 900 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: 100 * ms},
			{at: s, cost: 1, allowed: true, remaining: 2, resetAfter: s},
		},
	},
	{
		name:  "sliding_window/clock-behind",
		rule:  "the sliding window never runs before its newest entry, and RetryAfter is measured on the clock that decides",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: s},
		steps: []step{
			{at: 0, cost: 3, allowed: true, remaining: 0, resetAfter: s},
			// The entry at T0 leaves the window at T0+1s, 1.1 s from now.
			{at: -100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 1100 * ms, resetAfter: 1100 * ms},
			{at: -100 * ms, cost: 0, allowed: true, remaining: 0, resetAfter: 1100 * ms},
			{at: s - us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: us},
			{at: s, cost: 1, allowed: true, remaining: 2, resetAfter: s},
		},
	},
	{
		name:  "sliding_window_counter/clock-behind",
		rule:  "the sliding window counter never returns to an earlier window, and RetryAfter is measured on the clock that decides",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindowCounter, Rate: 10, Period: s},
		steps: []step{
			{at: 0, cost: 10, allowed: true, remaining: 0, resetAfter: 2 * s},
			// Decided at T0: next window, prev 10 must weigh ≤ 9: at T0+1.1s.
			{at: -100 * ms, cost: 1, allowed: false, remaining: 0, retryAfter: 1200 * ms, resetAfter: 2100 * ms},
			{at: 1100*ms - us, cost: 1, allowed: false, remaining: 0, retryAfter: us, resetAfter: 900*ms + us},
			{at: 1100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 1900 * ms},
		},
	},
	{
		name:  "concurrency/clock-behind",
		rule:  "at most Rate leases are in flight under any clock steps: a clock behind the key's newest lease cannot date leases early",
		limit: smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 5, Period: time.Minute},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 4, resetAfter: time.Minute},
			// Ten minutes behind: decided, and dated, at T0.
			{at: -10 * time.Minute, cost: 1, allowed: true, remaining: 3, resetAfter: 11 * time.Minute},
			{at: -10 * time.Minute, cost: 1, allowed: true, remaining: 2, resetAfter: 11 * time.Minute},
			{at: -10 * time.Minute, cost: 1, allowed: true, remaining: 1, resetAfter: 11 * time.Minute},
			{at: -10 * time.Minute, cost: 1, allowed: true, remaining: 0, resetAfter: 11 * time.Minute},
			{at: -10 * time.Minute, cost: 1, allowed: false, remaining: 0, retryAfter: 11 * time.Minute, resetAfter: 11 * time.Minute},
			// The clock is corrected: all five are still in flight.
			{at: s, cost: 1, allowed: false, remaining: 0, retryAfter: 59 * s, resetAfter: 59 * s},
			{at: s, op: opPeek, allowed: false, remaining: 0, retryAfter: 59 * s, resetAfter: 59 * s},
			{at: time.Minute, cost: 1, allowed: true, remaining: 4, resetAfter: time.Minute},
		},
	},
}

// instants are the bases of instantTables: the Unix epoch, which a client
// clock can report (and a script must not mistake for "read the server's
// clock"), and round instants that servers write in exponent form, such as
// miniredis' 1e+12 for a sorted-set score of 10^12 µs.
var instants = []time.Time{time.Unix(0, 0), time.Unix(1_000_000, 0), time.Unix(1_000_000_000, 0), time.Unix(2_000_000_000, 0)}

// instantTables run at each of instants.
var instantTables = []table{
	{
		name:  "gcra",
		rule:  "every instant from the Unix epoch on is a time like any other",
		limit: smartlimit.PerSecond(10),
		steps: []step{
			{at: 0, cost: 10, allowed: true, remaining: 0, resetAfter: s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: s},
			{at: 500 * ms, cost: 5, allowed: true, remaining: 0, resetAfter: s},
		},
	},
	{
		name:  "token_bucket",
		rule:  "every instant from the Unix epoch on is a time like any other",
		limit: smartlimit.Limit{Algorithm: smartlimit.TokenBucket, Rate: 10, Period: s},
		steps: []step{
			{at: 0, cost: 10, allowed: true, remaining: 0, resetAfter: s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 100 * ms, resetAfter: s},
			{at: 500 * ms, cost: 5, allowed: true, remaining: 0, resetAfter: s},
		},
	},
	{
		name:  "leaky_bucket",
		rule:  "every instant from the Unix epoch on is a time like any other",
		limit: smartlimit.Limit{Algorithm: smartlimit.LeakyBucket, Rate: 1, Period: s, Burst: 2},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: s},
			{at: 0, cost: 1, allowed: true, remaining: 0, resetAfter: 2 * s, delay: s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: s, resetAfter: 2 * s},
		},
	},
	{
		name:  "fixed_window",
		rule:  "every instant from the Unix epoch on is a time like any other",
		limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 3, Period: s},
		steps: []step{
			{at: 0, cost: 3, allowed: true, remaining: 0, resetAfter: s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: s, resetAfter: s},
			{at: s, cost: 1, allowed: true, remaining: 2, resetAfter: s},
		},
	},
	{
		name:  "sliding_window",
		rule:  "every instant from the Unix epoch on is a time like any other, however a server writes it",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: s},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 2, resetAfter: s},
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: s},
			{at: 0, cost: 2, allowed: false, remaining: 1, retryAfter: s, resetAfter: s},
			{at: 0, op: opPeek, allowed: true, remaining: 1, resetAfter: s},
			{at: 500 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: s},
			{at: s, cost: 2, allowed: true, remaining: 0, resetAfter: s},
			{at: s, cost: 1, allowed: false, remaining: 0, retryAfter: 500 * ms, resetAfter: s},
		},
	},
	{
		name:  "sliding_window_counter",
		rule:  "every instant from the Unix epoch on is a time like any other",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindowCounter, Rate: 10, Period: s},
		steps: []step{
			{at: 0, cost: 10, allowed: true, remaining: 0, resetAfter: 2 * s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 1100 * ms, resetAfter: 2 * s},
		},
	},
	{
		name:  "concurrency",
		rule:  "every instant from the Unix epoch on is a time like any other, however a server writes it",
		limit: smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: 10 * s},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: 10 * s},
			{at: 0, cost: 1, allowed: true, remaining: 0, resetAfter: 10 * s},
			{at: 0, cost: 1, allowed: false, remaining: 0, retryAfter: 10 * s, resetAfter: 10 * s},
			{at: 0, op: opPeek, allowed: false, remaining: 0, retryAfter: 10 * s, resetAfter: 10 * s},
			{at: 10 * s, cost: 1, allowed: true, remaining: 1, resetAfter: 10 * s},
		},
	},
}
