package itest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// HotKey hammers one key from 64 goroutines split over two independent
// Clients, one per rueidis client (two app processes, in effect), for
// duration under a limit of 100/s with burst 100, and checks that the
// number admitted is at most burst + rate × elapsed and at most 2% below
// it, where elapsed is measured by Redis TIME around the run.
func HotKey(t *testing.T, rc1, rc2 rueidis.Client, a smartlimit.Algorithm, duration time.Duration) {
	ctx := context.Background()
	prefix := Prefix(t)
	var clients [2]*smartlimit.Client
	for i, rc := range []rueidis.Client{rc1, rc2} {
		c, err := smartlimit.New(rc, smartlimit.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	l := smartlimit.Limit{Algorithm: a, Rate: 100, Period: time.Second, Burst: 100}
	const goroutines = 64

	before, err := RedisTime(ctx, rc1)
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	var allowed, denied, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for g := range goroutines {
		c := clients[g%2]
		wg.Go(func() {
			for time.Now().Before(stop) {
				r, err := c.Allow(ctx, "hot", l)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				case r.Allowed:
					allowed.Add(1)
				default:
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	after, err := RedisTime(ctx, rc1)
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	elapsed := after.Sub(before)
	bound := float64(l.Burst) + float64(l.Rate)*elapsed.Seconds()
	got := allowed.Load()
	t.Logf("%s: %d goroutines on 2 clients for %v (Redis TIME): %d checks, %d allowed, %d denied, %d failed; "+
		"burst + rate × elapsed = %.1f; allowed/bound = %.4f",
		a, goroutines, elapsed.Round(time.Millisecond), got+denied.Load()+failed.Load(), got, denied.Load(), failed.Load(),
		bound, float64(got)/bound)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d checks failed, first: %v", n, firstErr.Load())
	}
	if float64(got) > bound {
		t.Errorf("over-admission: allowed %d > burst + rate × elapsed = %.1f", got, bound)
	}
	if float64(got) < 0.98*bound {
		t.Errorf("under-admission: allowed %d < 98%% of %.1f", got, bound)
	}
}
