package memfallback_test

import (
	"testing"

	"github.com/smartlimit/smartlimit/internal/testkit"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/memfallback"
)

// clock is the tests' settable clock.
type clock = testkit.Clock

var newClock = testkit.NewClock

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
