package failover_test

import (
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/memfallback"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// TestConformance runs the suite every tier passes on a Coordinator over
// Redis (miniredis) and memory, and on one over memory alone: the
// Coordinator must answer exactly as the tier that decides.
func TestConformance(t *testing.T) {
	t.Run("redis-memory", func(t *testing.T) {
		limitertest.Run(t, func(t *testing.T) limitertest.Backend {
			s := smartlimittest.New(t)
			mem, clock := newMem(t)
			c := newCoordinator(t, failover.Tier{Name: smartlimit.TierRedis, Limiter: s.Client}, failover.Tier{Name: smartlimit.TierMemory, Limiter: mem})
			return limitertest.Func(c, func(at time.Time) { s.SetTime(at); *clock = at })
		})
	})
	t.Run("memory", func(t *testing.T) {
		limitertest.Run(t, func(t *testing.T) limitertest.Backend {
			mem, clock := newMem(t)
			c := newCoordinator(t, failover.Tier{Name: smartlimit.TierMemory, Limiter: mem})
			return limitertest.Func(c, func(at time.Time) { *clock = at })
		})
	})
}

// newMem returns a memfallback store whose clock reads *clock.
func newMem(t *testing.T) (*memfallback.Store, *time.Time) {
	t.Helper()
	clock := limitertest.T0
	mem, err := memfallback.New(memfallback.Options{Clock: func() time.Time { return clock }, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	return mem, &clock
}

// newCoordinator returns a Coordinator with a generous deadline, so that a
// busy machine never sends a conformance step to the next tier.
func newCoordinator(t *testing.T, tiers ...failover.Tier) *failover.Coordinator {
	t.Helper()
	c, err := failover.New(tiers, failover.Options{Timeout: 5 * time.Second, HealthInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
