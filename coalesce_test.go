package smartlimit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// Coalesced checks decide exactly as single ones: on a hot key with time
// frozen, exactly the burst passes; on many keys, each key's first burst.
func TestCoalescingDecidesAsSingleChecks(t *testing.T) {
	s := smartlimittest.New(t, smartlimit.WithCoalescing(16))
	l := smartlimit.Limit{Rate: 40, Period: time.Second}
	var allowed, perKey [20]atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 30 {
				key := fmt.Sprint("k", (g+i)%20)
				r, err := s.Client.Allow(ctx, key, l)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					allowed[(g+i)%20].Add(1)
				}
				perKey[(g+i)%20].Add(1)
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if got, want := allowed[k].Load(), min(40, perKey[k].Load()); got != want {
			t.Errorf("key k%d: %d allowed of %d, want %d", k, got, perKey[k].Load(), want)
		}
	}
}

// A check whose context ends while it waits returns the context's error,
// and the others are not disturbed.
func TestCoalescingHonorsContext(t *testing.T) {
	// rueidis sends a lone call in "sync" mode, where the call's deadline
	// becomes the connection's; when it expires the connection is closed
	// and every call waiting on it fails with context.DeadlineExceeded,
	// deadline or not. Deadlines of a few µs hit that every few runs, so
	// this test, which is about coalescing, pipelines always.
	mr := miniredis.RunT(t)
	mr.SetTime(smartlimittest.T0) // TIME stands still: nothing refills
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true, AlwaysPipelining: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lim, err := smartlimit.New(rc, smartlimit.WithCoalescing(8))
	if err != nil {
		t.Fatal(err)
	}
	l := smartlimit.Limit{Rate: 1000, Period: time.Second}
	var wg sync.WaitGroup
	var canceled, ok atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			c := ctx
			if g%2 == 0 {
				var cancel context.CancelFunc
				c, cancel = context.WithTimeout(ctx, time.Duration(g)*time.Microsecond)
				defer cancel()
			}
			for range 20 {
				_, err := lim.Allow(c, "k", l)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					canceled.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() < 16*20 {
		t.Errorf("%d checks without a deadline succeeded, want all %d", ok.Load(), 16*20)
	}
	// Whatever was counted, the key never went past its capacity.
	r, err := lim.Peek(ctx, "k", l)
	if err != nil || r.Remaining < 0 || r.Remaining > 1000-ok.Load() {
		t.Errorf("Peek = %+v, %v; %d checks succeeded", r, err, ok.Load())
	}
}

// Coalescing changes where checks travel, never what they decide: the whole
// conformance suite holds with it on.
func TestConformanceCoalesced(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		s := smartlimittest.New(t, smartlimit.WithCoalescing(8))
		return limitertest.Func(s.Client, s.SetTime)
	})
}
