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
// derived by hand from the contract every tier keeps (smartlimit.Result's
// fields and the README's "Rules every tier keeps"), and a failure names
// the rule it breaks. Optional abilities (Peeker,
// MultiLimiter, Leaser) are tested when the backend has them, found by type
// assertion as fstest.TestFS finds fs.StatFS.
package limitertest

import (
	"context"
	"fmt"
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
