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
	prefix := Prefix()
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

	// Connect both clients and cache the script before the clock starts.
	for _, c := range clients {
		if _, err := c.Peek(ctx, "warm-up", l); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	// The upper bound counts from Redis TIME before the first check to
	// Redis TIME after the last. The lower bound counts a window surely
	// inside the checks: from the first answer to the stop instant, after
	// which the test drains what refilled since the last check (so that a
	// goroutine stalled on a busy machine cannot look like under-admission).
	before, err := RedisTime(ctx, rc1)
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	var allowed, denied, failed atomic.Int64
	var firstErr atomic.Value
	var firstAnswer atomic.Int64 // monotonic ns since start
	start := time.Now()
	stop := start.Add(duration)
	var wg sync.WaitGroup
	for g := range goroutines {
		c := clients[g%2]
		wg.Go(func() {
			for time.Now().Before(stop) {
				r, err := c.Allow(ctx, "hot", l)
				firstAnswer.CompareAndSwap(0, int64(time.Since(start)))
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
	var drained int64
	for {
		r, err := clients[0].Allow(ctx, "hot", l)
		if err != nil {
			t.Fatalf("draining: %v", err)
		}
		if !r.Allowed {
			break
		}
		drained++
	}
	allowed.Add(drained)
	after, err := RedisTime(ctx, rc1)
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	upper := float64(l.Burst) + float64(l.Rate)*after.Sub(before).Seconds()
	inside := duration - time.Duration(firstAnswer.Load())
	lower := 0.98 * (float64(l.Burst) + float64(l.Rate)*inside.Seconds())
	got := allowed.Load()
	t.Logf("%s: %d goroutines on 2 clients for %v (Redis TIME): %d checks, %d failed; allowed %d, %d of them drained after "+
		"(%.2f%% of burst + rate × elapsed = %.1f; lower bound %.1f)",
		a, goroutines, after.Sub(before).Round(time.Millisecond), got+denied.Load()+failed.Load(), failed.Load(), got, drained,
		100*float64(got)/upper, upper, lower)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d checks failed, first: %v", n, firstErr.Load())
	}
	if float64(got) > upper {
		t.Errorf("over-admission: allowed %d > burst + rate × elapsed = %.1f", got, upper)
	}
	if float64(got) < lower {
		t.Errorf("under-admission: allowed %d < 98%% of burst + rate × %v = %.1f", got, inside, lower)
	}
}
