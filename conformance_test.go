package smartlimit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
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
		var mu sync.Mutex
		now := smartlimittest.T0
		s := smartlimittest.New(t, smartlimit.WithClientClock(func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		}))
		return limitertest.Func(s.Client, func(t time.Time) {
			mu.Lock()
			defer mu.Unlock()
			now = t
		})
	})
}
