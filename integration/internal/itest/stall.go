package itest

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// Stall pauses Redis with pause (CLIENT PAUSE on every node the test
// means) for d while 64 goroutines call c with 25 ms deadlines for d/2:
// Allow, AllowMany, Peek, Reset and a lease's Release in turn. Every call
// made while Redis is paused must fail with context.DeadlineExceeded at its
// deadline, not when the pause ends; no more goroutines may pile up than a
// rueidis ring holds (1024); and once the pause is over, checks pass again
// and the goroutines wind down.
//
// It guards against the issue "Hold at the edges", item 7: without
// coalescing, every check that timed out left its command in rueidis'
// ring, and once the ring was full the next calls waited in ring.PutOne,
// which takes no context, until Redis answered again (1.3–2.5 s past 50 ms
// deadlines, 2,000 goroutines).
//
// d must be long enough for the old failure to show: at 64 calls per
// 25 ms, 2,048 ring slots fill in under a second.
func Stall(t *testing.T, c *smartlimit.Client, pause func(ctx context.Context, d time.Duration) error, d time.Duration) {
	const (
		workers  = 64
		deadline = 25 * time.Millisecond
		// ringSlots is a rueidis connection's ring at the default
		// RingScaleEachConn: what piled up before, once per connection.
		ringSlots = 1024
	)
	// slack is how far past its deadline a call may return on this shared
	// two-core machine; a call that waited for the pause to end took
	// seconds longer.
	slack := d / 4
	ctx := context.Background()
	l := smartlimit.PerMinute(1_000_000)
	cl := smartlimit.Limit{Rate: 1_000_000, Period: time.Minute, Algorithm: smartlimit.Concurrency}
	leases := make([]*smartlimit.Lease, workers)
	for w := range leases {
		ls, r, err := c.Acquire(ctx, "stall-lease-"+strconv.Itoa(w), cl)
		if err != nil || !r.Allowed {
			t.Fatalf("Acquire before the pause = %+v, %v", r, err)
		}
		leases[w] = ls
	}
	base := runtime.NumGoroutine()

	type outcome struct {
		op   string
		took time.Duration
		err  error
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		paused   atomic.Bool // set once CLIENT PAUSE has answered
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	ops := []string{"Allow", "AllowMany", "Peek", "Reset", "Release"}
	for w := range workers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				key := "stall-" + strconv.Itoa(w) + "-" + strconv.Itoa(i%16)
				op := ops[i%len(ops)]
				wasPaused := paused.Load()
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				var err error
				switch op {
				case "Allow":
					_, err = c.Allow(cctx, key, l)
				case "AllowMany":
					_, err = c.AllowMany(cctx, []smartlimit.Request{{Key: key, Limit: l, Cost: 1}, {Key: key + "-b", Limit: l, Cost: 1}})
				case "Peek":
					_, err = c.Peek(cctx, key, l)
				case "Reset":
					err = c.Reset(cctx, key, l)
				case "Release":
					err = leases[w].Release(cctx)
				}
				took := time.Since(start)
				cancel()
				if wasPaused {
					mu.Lock()
					outcomes = append(outcomes, outcome{op, took, err})
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // traffic flows before the pause
	if err := pause(ctx, d); err != nil {
		stop.Store(true)
		wg.Wait()
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	pausedAt := time.Now()
	paused.Store(true)
	maxG := 0
	for time.Since(pausedAt) < d/2 {
		maxG = max(maxG, runtime.NumGoroutine())
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	joined := make(chan struct{})
	go func() { wg.Wait(); close(joined) }()
	select {
	case <-joined:
	case <-time.After(d/2 + 5*time.Second):
		// The callers waited past the pause, and then some: a hang.
		t.Fatalf("callers still blocked %v after the pause of %v began", time.Since(pausedAt), d)
	}
	joinedAfter := time.Since(pausedAt)

	var worst time.Duration
	counts := map[string]int{}
	bad := 0
	for _, o := range outcomes {
		counts[o.op]++
		worst = max(worst, o.took-deadline)
		if !errors.Is(o.err, context.DeadlineExceeded) || o.took > deadline+slack {
			if bad++; bad <= 5 {
				t.Errorf("%s while Redis is paused: took %v (deadline %v), err %v; want context.DeadlineExceeded by the deadline", o.op, o.took, deadline, o.err)
			}
		}
	}
	t.Logf("pause %v: %d calls %v, worst overrun %v, %d goroutines at most (%d before), callers joined %v after the pause began",
		d, len(outcomes), counts, worst, maxG, base, joinedAfter.Round(time.Millisecond))
	if bad > 5 {
		t.Errorf("... and %d more such calls", bad-5)
	}
	for _, op := range ops {
		if counts[op] == 0 {
			t.Errorf("no %s was made while Redis was paused", op)
		}
	}
	if joinedAfter > d*3/4 {
		t.Errorf("the callers returned %v after the pause of %v began; want before its end", joinedAfter, d)
	}
	if maxG-base >= ringSlots {
		t.Errorf("%d goroutines piled up during the pause (%d before); want fewer than a ring of %d", maxG-base, base, ringSlots)
	}

	// After the pause: checks pass again, and the goroutines that waited
	// for Redis on the callers' behalf are gone.
	time.Sleep(time.Until(pausedAt.Add(d)))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, err := c.Allow(rctx, "stall-after", l)
		if err == nil {
			break
		}
		if rctx.Err() != nil {
			t.Fatalf("Allow after the pause: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for runtime.NumGoroutine() > base+workers/4 {
		if rctx.Err() != nil {
			t.Fatalf("%d goroutines 10 s after the pause, %d before it", runtime.NumGoroutine(), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
