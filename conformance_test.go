package smartlimit_test

import (
	"testing"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/testkit"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

func TestConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		s := smartlimittest.New(t)
		return limitertest.Func(s.Client, s.SetTime)
	})
}

// With WithClientClock the scripts take the client's time, whatever the
// server's clock says (here it stays at T0), the Unix epoch included.
func TestConformanceClientClock(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		clock := testkit.NewClock(smartlimittest.T0)
		s := smartlimittest.New(t, smartlimit.WithClientClock(clock.Now))
		return limitertest.Func(s.Client, clock.Set)
	})
}
