package memfallback_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/memfallback"
)

// clock is a settable clock for tests, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.Set(t); return c }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newStore returns a Store on a clock at limitertest.T0, closed when t ends.
func newStore(t testing.TB, opts memfallback.Options) (*memfallback.Store, *clock) {
	t.Helper()
	c := newClock(limitertest.T0)
	opts.Clock = c.Now
	s, err := memfallback.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func TestConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		s, c := newStore(t, memfallback.Options{})
		return limitertest.Func(s, c.Set)
	})
}
