// Package limitertest is the conformance suite that every smartlimit tier
// passes: the Redis Client, memfallback, the mongo tier and anything else
// that implements smartlimit.Limiter. It is what testing/fstest is to file
// systems and slogtest to handlers.
//
// A backend's test calls Run with a constructor that returns a fresh
// backend, with a clock the suite sets:
//
//	func TestConformance(t *testing.T) {
//		limitertest.Run(t, func(t *testing.T) limitertest.Backend {
//			s := smartlimittest.New(t)
//			return limitertest.Func(s.Client, s.SetTime)
//		})
//	}
//
// Every case is a subtest on its own backend. The expected results are
// derived by hand from the rules in DESIGN.md ("One contract, every tier"),
// and a failure names the rule it breaks. Optional abilities (Peeker,
// MultiLimiter, Leaser) are tested when the backend has them, found by type
// assertion as fstest.TestFS finds fs.StatFS.
package limitertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// Backend is a limiter under test with a clock the suite sets. Peek,
// AllowAll and Acquire are tested when the Backend also implements
// smartlimit.Peeker, smartlimit.MultiLimiter or smartlimit.Leaser.
type Backend interface {
	smartlimit.Limiter
	// SetTime moves the backend's clock to t. The clock stands still
	// between calls. The suite moves it backwards too, to check that time
	// never runs backwards for a key, and to the Unix epoch and round
	// instants such as 1e12 µs.
	SetTime(t time.Time)
}

// T0 is the instant every case starts at: 2030-01-01 00:00:00 UTC, a whole
// day since the Unix epoch, so that fixed windows of a second, a minute or
// a day begin at T0 (a 7 s window does not: T0 is 2 s into one).
var T0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Func returns a Backend made of lim and setTime. If lim implements
// Peeker, MultiLimiter or Leaser, so does the Backend.
func Func(lim smartlimit.Limiter, setTime func(time.Time)) Backend {
	return funcBackend{lim, setTime}
}

type funcBackend struct {
	smartlimit.Limiter
	set func(time.Time)
}

func (b funcBackend) SetTime(t time.Time) { b.set(t) }

// Unwrap returns the limiter, so the suite can find its optional abilities.
func (b funcBackend) Unwrap() smartlimit.Limiter { return b.Limiter }

// as finds an optional ability of b, looking through Func's wrapper.
func as[T any](b Backend) (T, bool) {
	if v, ok := b.(T); ok {
		return v, true
	}
	if u, ok := b.(interface{ Unwrap() smartlimit.Limiter }); ok {
		v, ok := u.Unwrap().(T)
		return v, ok
	}
	var zero T
	return zero, false
}

// Run runs every case of the suite, each as a subtest on a backend that
// newBackend returns. newBackend registers its own cleanup with t. It is
// RunOptions with the zero Options.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	RunOptions(t, Options{}, newBackend)
}

// Options adjusts the suite to a backend's known limits.
type Options struct {
	// Sequential, when not empty, skips the cases that call the backend
	// from many goroutines at once, with Sequential as the reason: for a
	// stand-in server that loses concurrent updates, whose answers there
	// would prove nothing.
	Sequential string
}

// RunOptions is Run with opts.
func RunOptions(t *testing.T, opts Options, newBackend func(t *testing.T) Backend) {
	for _, tc := range tables {
		t.Run("steps/"+tc.name, func(t *testing.T) {
			b := newBackend(t)
			runSteps(t, b, tc)
		})
	}
	for _, tc := range clockTables {
		t.Run("clock/"+tc.name, func(t *testing.T) {
			b := newBackend(t)
			runSteps(t, b, tc)
		})
	}
	for _, base := range instants {
		for _, tc := range instantTables {
			tc.base = base
			t.Run(fmt.Sprintf("at/%d/%s", base.UnixMicro(), tc.name), func(t *testing.T) {
				b := newBackend(t)
				runSteps(t, b, tc)
				testAllowAllAt(t, b, base)
			})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.concurrent && opts.Sequential != "" {
				t.Skip("concurrent case skipped: " + opts.Sequential)
			}
			b := newBackend(t)
			b.SetTime(T0)
			c.run(t, b)
		})
	}
}

// Operations of a step.
const (
	opAllow = iota // AllowN(key, limit, cost)
	opPeek         // Peek(key, limit); skipped without Peeker
	opReset        // Reset(key, limit); only err is checked
)

// step is one call at T0+at and the Result it must return. key "" is "k".
// For opPeek, allowed, retryAfter and delay are those of a request of cost
// 1, and remaining and resetAfter what is there.
type step struct {
	at         time.Duration
	op         int
	key        string
	cost       int64
	allowed    bool
	remaining  int64
	retryAfter time.Duration
	resetAfter time.Duration
	delay      time.Duration
}

// table is a sequence of steps under one limit, at base+at (base T0 when
// zero).
type table struct {
	name  string
	rule  string
	base  time.Time
	limit smartlimit.Limit
	steps []step
}

const (
	us = time.Microsecond
	ms = time.Millisecond
	s  = time.Second
)

func runSteps(t *testing.T, b Backend, tc table) {
	t.Helper()
	ctx := context.Background()
	peeker, canPeek := as[smartlimit.Peeker](b)
	base := tc.base
	if base.IsZero() {
		base = T0
	}
	for i, st := range tc.steps {
		key := st.key
		if key == "" {
			key = "k"
		}
		b.SetTime(base.Add(st.at))
		var (
			r    smartlimit.Result
			err  error
			call string
		)
		switch st.op {
		case opAllow:
			call = fmt.Sprintf("AllowN(%q, %v, %d)", key, tc.limit, st.cost)
			r, err = b.AllowN(ctx, key, tc.limit, st.cost)
		case opPeek:
			if !canPeek {
				continue
			}
			call = fmt.Sprintf("Peek(%q, %v)", key, tc.limit)
			r, err = peeker.Peek(ctx, key, tc.limit)
		case opReset:
			if err := b.Reset(ctx, key, tc.limit); err != nil {
				t.Fatalf("step %d at T0+%v: Reset(%q, %v): %v", i, st.at, key, tc.limit, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d at T0+%v: %s: %v", i, st.at, call, err)
		}
		want := smartlimit.Result{
			Allowed: st.allowed, Limit: tc.limit.Capacity(), Remaining: st.remaining,
			ResetAfter: st.resetAfter, RetryAfter: st.retryAfter, Delay: st.delay, Tier: r.Tier,
		}
		if r != want || r.Tier == "" {
			t.Fatalf("step %d at T0+%v: %s =\n\t%s\nwant\n\t%s\n(%s)", i, st.at, call, format(r), format(want), tc.rule)
		}
	}
}

func format(r smartlimit.Result) string {
	retry := r.RetryAfter.String()
	if r.RetryAfter == smartlimit.Never {
		retry = "Never"
	}
	return fmt.Sprintf("{Allowed:%v Limit:%d Remaining:%d ResetAfter:%v RetryAfter:%s Delay:%v Tier:%q}",
		r.Allowed, r.Limit, r.Remaining, r.ResetAfter, retry, r.Delay, r.Tier)
}

// tables hold the step sequences of every algorithm. The comments derive
// the non-obvious rows from DESIGN.md: bucket algorithms count time in
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

// testAllowAllAt checks AllowAll of a sliding window and GCRA at base, when
// the backend has AllowAll.
func testAllowAllAt(t *testing.T, b Backend, base time.Time) {
	t.Helper()
	multi, ok := as[smartlimit.MultiLimiter](b)
	if !ok {
		return
	}
	b.SetTime(base)
	sw := smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 2, Period: s}
	for i, want := range []bool{true, true, false} {
		r, err := multi.AllowAll(context.Background(), "all", 1, sw, smartlimit.PerSecond(10))
		if err != nil {
			t.Fatalf("AllowAll %d at %v: %v", i, base, err)
		}
		if r.Allowed != want || r.Remaining != max(0, 1-int64(i)) {
			t.Fatalf("AllowAll %d at %v = %s, want allowed %v, Remaining %d", i, base, format(r), want, max(0, 1-int64(i)))
		}
	}
}

// A case is a named test on a fresh backend whose clock is at T0.
type testCase struct {
	name       string
	run        func(t *testing.T, b Backend)
	concurrent bool // calls the backend from many goroutines at once
}

var cases = []testCase{
	{"BadInput", testBadInput, false},
	{"DeniedConsumesNothing", testDeniedConsumesNothing, false},
	{"LimitsAreSeparate", testLimitsAreSeparate, false},
	{"Reset", testReset, false},
	{"AllowManyOrder", testAllowManyOrder, false},
	{"AllowAll", testAllowAll, false},
	{"AllowAllDayLimitDenies", testAllowAllDayDenies, false},
	{"AllowAllResults", testAllowAllResults, false},
	{"Leases", testLeases, false},
	{"Concurrent", testConcurrent, true},
	{"CanceledContext", testCanceledContext, false},
}

// allowN calls AllowN and fails the test on error.
func allowN(t *testing.T, b Backend, key string, l smartlimit.Limit, n int64) smartlimit.Result {
	t.Helper()
	r, err := b.AllowN(context.Background(), key, l, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %v, %d): %v", key, l, n, err)
	}
	return r
}

// allAlgorithms is one limit of capacity 5 per algorithm.
var allAlgorithms = []smartlimit.Limit{
	{Algorithm: smartlimit.GCRA, Rate: 5, Period: s},
	{Algorithm: smartlimit.TokenBucket, Rate: 5, Period: s},
	{Algorithm: smartlimit.FixedWindow, Rate: 5, Period: s},
	{Algorithm: smartlimit.SlidingWindow, Rate: 5, Period: s},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 5, Period: s},
	{Algorithm: smartlimit.LeakyBucket, Rate: 5, Period: s},
	{Algorithm: smartlimit.Concurrency, Rate: 5, Period: s},
}

func testBadInput(t *testing.T, b Backend) {
	ctx := context.Background()
	good := smartlimit.PerSecond(10)
	bad := []struct {
		key   string
		limit smartlimit.Limit
		cost  int64
		is    error
		field string
	}{
		{"", good, 1, smartlimit.ErrInvalidKey, "key"},
		{"a}b", good, 1, smartlimit.ErrInvalidKey, "key"},
		{strings.Repeat("x", smartlimit.MaxKeyLen+1), good, 1, smartlimit.ErrInvalidKey, "key"},
		{"k", smartlimit.Limit{Rate: 0, Period: s}, 1, smartlimit.ErrInvalidLimit, "rate"},
		{"k", smartlimit.Limit{Rate: -1, Period: s}, 1, smartlimit.ErrInvalidLimit, "rate"},
		{"k", smartlimit.Limit{Rate: 1, Period: 0}, 1, smartlimit.ErrInvalidLimit, "period"},
		{"k", smartlimit.Limit{Rate: 1, Period: 1500 * time.Nanosecond}, 1, smartlimit.ErrInvalidLimit, "period"},
		{"k", smartlimit.Limit{Rate: 1, Period: s, Burst: -1}, 1, smartlimit.ErrInvalidLimit, "burst"},
		{"k", smartlimit.Limit{Algorithm: 99, Rate: 1, Period: s}, 1, smartlimit.ErrInvalidLimit, "algorithm"},
		{"k", smartlimit.Limit{Rate: 1 << 62, Period: s}, 1, smartlimit.ErrInvalidLimit, "rate"},
		{"k", good, -1, smartlimit.ErrInvalidCost, "cost"},
		{"k", smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 5, Period: s}, 2, smartlimit.ErrInvalidCost, "cost"},
	}
	check := func(call string, err error, is error, field string) {
		t.Helper()
		var ie *smartlimit.InputError
		if !errors.Is(err, is) || !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s = %v, want an *InputError on %s matching %v (rule: bad input is a typed error before any I/O)", call, err, field, is)
		}
	}
	peeker, canPeek := as[smartlimit.Peeker](b)
	multi, canMulti := as[smartlimit.MultiLimiter](b)
	for _, c := range bad {
		// Bad input must be caught on a warm key and limit too (a tier may
		// cache what it validated): warm them first.
		if c.limit.Validate() == nil {
			allowN(t, b, "warm", c.limit, 1)
			if smartlimit.CheckRequest(c.key, c.limit, 1) == nil {
				allowN(t, b, c.key, c.limit, 1)
			}
		}
		_, err := b.AllowN(ctx, c.key, c.limit, c.cost)
		check(fmt.Sprintf("AllowN(%.20q, %v, %d)", c.key, c.limit, c.cost), err, c.is, c.field)
		_, err = b.AllowMany(ctx, []smartlimit.Request{{Key: "ok", Limit: good, Cost: 1}, {Key: c.key, Limit: c.limit, Cost: c.cost}})
		check(fmt.Sprintf("AllowMany(..., {%.20q, %v, %d})", c.key, c.limit, c.cost), err, c.is, c.field)
		if c.field != "cost" {
			err = b.Reset(ctx, c.key, c.limit)
			check(fmt.Sprintf("Reset(%.20q, %v)", c.key, c.limit), err, c.is, c.field)
			if canPeek {
				_, err = peeker.Peek(ctx, c.key, c.limit)
				check(fmt.Sprintf("Peek(%.20q, %v)", c.key, c.limit), err, c.is, c.field)
			}
		}
		if canMulti && c.limit.Algorithm != smartlimit.Concurrency {
			_, err = multi.AllowAll(ctx, c.key, c.cost, good, c.limit)
			check(fmt.Sprintf("AllowAll(%.20q, %d, %v, %v)", c.key, c.cost, good, c.limit), err, c.is, c.field)
		}
	}
	// Nothing was consumed by the rejected batch's good item.
	if r := allowN(t, b, "ok", good, 0); r.Remaining != 10 {
		t.Errorf("after rejected batches, AllowN(ok, 0).Remaining = %d, want 10 (rule: bad input is rejected before anything is decided)", r.Remaining)
	}
	if canMulti {
		if _, err := multi.AllowAll(ctx, "k", 1); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("AllowAll with no limits = %v, want ErrInvalidLimit", err)
		}
		if _, err := multi.AllowAll(ctx, "k", 1, good, good); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("AllowAll with the same limit twice = %v, want ErrInvalidLimit", err)
		}
		if _, err := multi.AllowAll(ctx, "k", 1, good, allAlgorithms[6]); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("AllowAll with a Concurrency limit = %v, want ErrInvalidLimit", err)
		}
	}
	if leaser, ok := as[smartlimit.Leaser](b); ok {
		if _, _, err := leaser.Acquire(ctx, "k", good); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("Acquire with a GCRA limit = %v, want ErrInvalidLimit", err)
		}
	}
}

func testDeniedConsumesNothing(t *testing.T, b Backend) {
	// Concurrency takes cost 0 or 1 only; its table covers its denials.
	for _, l := range allAlgorithms[:6] {
		key := "k-" + l.Algorithm.String()
		allowN(t, b, key, l, 3)
		for _, cost := range []int64{3, 6} { // over what is left; over capacity
			if r := allowN(t, b, key, l, cost); r.Allowed {
				t.Fatalf("%v: AllowN(%d) after 3 of 5 allowed", l, cost)
			}
		}
		if r := allowN(t, b, key, l, 0); r.Remaining != 2 {
			t.Errorf("%v: Remaining after denials = %d, want 2 (rule: a denied request consumes nothing)", l, r.Remaining)
		}
		if r := allowN(t, b, key, l, 2); !r.Allowed || r.Remaining != 0 {
			t.Errorf("%v: AllowN(2) after denials = %s, want allowed with Remaining 0 (rule: a denied request consumes nothing)", l, format(r))
		}
	}
}

func testLimitsAreSeparate(t *testing.T, b Backend) {
	// One key under two limits, and two keys under one: four states.
	a, c := smartlimit.PerSecond(2), smartlimit.PerSecond(3)
	allowN(t, b, "k", a, 2)
	for _, x := range []struct {
		key  string
		l    smartlimit.Limit
		want int64
	}{{"k", a, 0}, {"k", c, 3}, {"other", a, 2}, {"k", smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: s}, 2}} {
		if r := allowN(t, b, x.key, x.l, 0); r.Remaining != x.want {
			t.Errorf("AllowN(%q, %v, 0).Remaining = %d, want %d (rule: each key and limit has its own state)", x.key, x.l, r.Remaining, x.want)
		}
	}
}

func testReset(t *testing.T, b Backend) {
	for _, l := range allAlgorithms {
		key := "k-" + l.Algorithm.String()
		for range 5 {
			allowN(t, b, key, l, 1)
		}
		if r := allowN(t, b, key, l, 1); r.Allowed {
			t.Fatalf("%v: sixth unit allowed", l)
		}
		if err := b.Reset(context.Background(), key, l); err != nil {
			t.Fatalf("%v: Reset: %v", l, err)
		}
		if r := allowN(t, b, key, l, 0); r.Remaining != 5 || r.ResetAfter != 0 {
			t.Errorf("%v: after Reset: %s, want Remaining 5, ResetAfter 0 (rule: Reset forgets the state)", l, format(r))
		}
	}
	// Reset of a key that has no state is no error.
	if err := b.Reset(context.Background(), "never-seen", smartlimit.PerSecond(1)); err != nil {
		t.Errorf("Reset of an unknown key: %v", err)
	}
}

func testAllowManyOrder(t *testing.T, b Backend) {
	gcra := smartlimit.PerSecond(3)
	fw := smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: s}
	reqs := []smartlimit.Request{
		{Key: "a", Limit: gcra, Cost: 2},
		{Key: "b", Limit: fw, Cost: 1},
		{Key: "a", Limit: gcra, Cost: 2}, // 1 left: denied
		{Key: "a", Limit: gcra, Cost: 1},
		{Key: "b", Limit: fw, Cost: 1},
		{Key: "b", Limit: fw, Cost: 0},
		{Key: "a", Limit: gcra, Cost: 1},
	}
	want := []struct {
		allowed   bool
		remaining int64
	}{{true, 1}, {true, 1}, {false, 1}, {true, 0}, {true, 0}, {true, 0}, {false, 0}}
	rs, err := b.AllowMany(context.Background(), reqs)
	if err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	if len(rs) != len(reqs) {
		t.Fatalf("AllowMany returned %d results for %d requests", len(rs), len(reqs))
	}
	for i, r := range rs {
		if r.Allowed != want[i].allowed || r.Remaining != want[i].remaining || r.Limit != reqs[i].Limit.Capacity() {
			t.Errorf("AllowMany result %d (%+v) = %s, want Allowed %v Remaining %d (rule: AllowMany decides in request order, as AllowN would)",
				i, reqs[i], format(r), want[i].allowed, want[i].remaining)
		}
	}
	if rs, err := b.AllowMany(context.Background(), nil); err != nil || len(rs) != 0 {
		t.Errorf("AllowMany(nil) = %v, %v; want no results, no error", rs, err)
	}
}

// testAllowAllResults: each limit's own Result, in order; the one that
// would have passed alone reports what is there, uncharged, with no retry.
func testAllowAllResults(t *testing.T, b Backend) {
	each, ok := as[smartlimit.MultiResultLimiter](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.MultiResultLimiter")
	}
	ctx := context.Background()
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(1000)
	rs, err := each.AllowAllResults(ctx, "k", 10, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want := []smartlimit.Result{
		{Allowed: true, Limit: 10, Remaining: 0, ResetAfter: s},
		{Allowed: true, Limit: 1000, Remaining: 990, ResetAfter: 864 * s},
	}
	checkEach := func(what string, rs, want []smartlimit.Result) {
		t.Helper()
		if len(rs) != len(want) {
			t.Fatalf("%s: %d results, want %d", what, len(rs), len(want))
		}
		for i := range want {
			want[i].Tier = rs[i].Tier
			if rs[i] != want[i] {
				t.Fatalf("%s: result %d = %s, want %s", what, i, format(rs[i]), format(want[i]))
			}
		}
	}
	checkEach("AllowAllResults(10, 10/s, 1000/day)", rs, want)
	if i := smartlimit.Binding(rs); i != 0 {
		t.Errorf("Binding = %d, want 0 (the least Remaining)", i)
	}
	rs, err = each.AllowAllResults(ctx, "k", 1, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want = []smartlimit.Result{
		{Allowed: false, Limit: 10, Remaining: 0, RetryAfter: 100 * ms, ResetAfter: s},
		// Not charged: what is there, Allowed false, no retry of its own.
		{Allowed: false, Limit: 1000, Remaining: 990, ResetAfter: 864 * s},
	}
	checkEach("AllowAllResults(1) over 10/s", rs, want)
	if i := smartlimit.Binding(rs); i != 0 {
		t.Errorf("Binding = %d, want 0 (the limit that denied)", i)
	}
}

func testAllowAll(t *testing.T, b Backend) {
	multi, ok := as[smartlimit.MultiLimiter](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.MultiLimiter")
	}
	ctx := context.Background()
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(1000)
	r, err := multi.AllowAll(ctx, "k", 10, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	// Allowed: the binding result is the least Remaining (0 of 10/s), the
	// longest ResetAfter (10 units of 86.4 s).
	want := smartlimit.Result{Allowed: true, Limit: 10, Remaining: 0, ResetAfter: 864 * s, Tier: r.Tier}
	if r != want {
		t.Fatalf("AllowAll(10, 10/s, 1000/day) = %s, want %s", format(r), format(want))
	}
	// The second limit denies: neither is charged.
	r, err = multi.AllowAll(ctx, "k", 1, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want = smartlimit.Result{Allowed: false, Limit: 10, Remaining: 0, RetryAfter: 100 * ms, ResetAfter: 864 * s, Tier: r.Tier}
	if r != want {
		t.Fatalf("AllowAll(1) over 10/s = %s, want %s", format(r), format(want))
	}
	if r := allowN(t, b, "k", day, 0); r.Remaining != 990 {
		t.Errorf("1000/day Remaining after a denied AllowAll = %d, want 990 (rule: when either limit denies, neither is charged)", r.Remaining)
	}
	// Cost 0 asks all limits without charging.
	r, err = multi.AllowAll(ctx, "k", 0, sec, day)
	if err != nil || !r.Allowed || r.Remaining != 0 {
		t.Errorf("AllowAll(0) = %s, %v; want allowed, Remaining 0", format(r), err)
	}
}

func testAllowAllDayDenies(t *testing.T, b Backend) {
	multi, ok := as[smartlimit.MultiLimiter](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.MultiLimiter")
	}
	ctx := context.Background()
	// 25/day: one unit is 3456 s; cap 25 units.
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(25)
	for i, at := range []time.Duration{0, s} {
		b.SetTime(T0.Add(at))
		if r, err := multi.AllowAll(ctx, "k", 10, sec, day); err != nil || !r.Allowed {
			t.Fatalf("AllowAll %d = %s, %v; want allowed", i, format(r), err)
		}
	}
	// Day backlog at 2 s: 69118 s; 10 more units need 103678 s of 86400 s.
	b.SetTime(T0.Add(2 * s))
	r, err := multi.AllowAll(ctx, "k", 10, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want := smartlimit.Result{Allowed: false, Limit: 25, Remaining: 5, RetryAfter: 17278 * s, ResetAfter: 69118 * s, Tier: r.Tier}
	if r != want {
		t.Fatalf("AllowAll(10) over 25/day = %s, want %s (rule: the binding result of a denial is the denying limit's)", format(r), format(want))
	}
	if r := allowN(t, b, "k", sec, 0); r.Remaining != 10 {
		t.Errorf("10/s Remaining after a denied AllowAll = %d, want 10 (rule: when either limit denies, neither is charged)", r.Remaining)
	}
}

func testLeases(t *testing.T, b Backend) {
	leaser, ok := as[smartlimit.Leaser](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.Leaser")
	}
	ctx := context.Background()
	l := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: 10 * s}
	acquire := func(wantOK bool, wantRemaining int64) *smartlimit.Lease {
		t.Helper()
		ls, r, err := leaser.Acquire(ctx, "k", l)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if r.Allowed != wantOK || (ls != nil) != wantOK || r.Remaining != wantRemaining {
			t.Fatalf("Acquire = %v, %s; want allowed %v, Remaining %d", ls, format(r), wantOK, wantRemaining)
		}
		return ls
	}
	a := acquire(true, 1)
	acquire(true, 0)
	acquire(false, 0)
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("second Release: %v (rule: releasing a released lease is not an error)", err)
	}
	c := acquire(true, 0)
	acquire(false, 0)
	// Every lease was taken at T0: at T0+Period all have expired.
	b.SetTime(T0.Add(10 * s))
	acquire(true, 1)
	if err := c.Release(ctx); err != nil {
		t.Fatalf("Release of an expired lease: %v (rule: not an error)", err)
	}
	acquire(true, 0)
}

func testConcurrent(t *testing.T, b Backend) {
	const goroutines = 64
	for _, l := range allAlgorithms {
		key := "k-" + l.Algorithm.String()
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Go(func() {
				r, err := b.AllowN(context.Background(), key, l, 1)
				if err != nil {
					errs <- err
					return
				}
				if r.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%v: AllowN: %v", l, err)
		}
		if got, want := allowed.Load(), l.Capacity(); got != want {
			t.Errorf("%v: %d goroutines at one instant: %d allowed, want %d (rule: checks are atomic)", l, goroutines, got, want)
		}
	}
}

func testCanceledContext(t *testing.T, b Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.AllowN(ctx, "k", smartlimit.PerSecond(1), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("AllowN with a canceled context = %v, want context.Canceled", err)
	}
	if r := allowN(t, b, "k", smartlimit.PerSecond(1), 0); r.Remaining != 1 {
		t.Errorf("Remaining after a canceled call = %d, want 1", r.Remaining)
	}
}
