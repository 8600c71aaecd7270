package standalone

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// TestStallHonorsDeadlines pauses the server (CLIENT PAUSE ALL) under load
// and demands that every call return at its deadline; see itest.Stall.
func TestStallHonorsDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  smartlimit.Option
	}{
		{"uncoalesced", smartlimit.WithoutCoalescing()},
		{"coalesced", smartlimit.WithCoalescing(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			if !srv.Started() {
				t.Skipf("%s names a shared server, which this test must not pause", redistest.AddrEnv)
			}
			rc, admin := srv.Client(t), srv.Client(t)
			c, err := smartlimit.New(rc, smartlimit.WithPrefix(itest.Prefix()), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			itest.Stall(t, c, func(ctx context.Context, d time.Duration) error {
				return pause(ctx, admin, d)
			}, 5*time.Second)
		})
	}
}

func pause(ctx context.Context, rc rueidis.Client, d time.Duration) error {
	return rc.Do(ctx, rc.B().ClientPause().Timeout(d.Milliseconds()).All().Build()).Error()
}

// TestStallManyCallers is TestStallHonorsDeadlines with more callers in
// flight than a rueidis ring holds, on one connection without coalescing
// (as a Cluster node is by default): a range is marked stalled only once a
// deadline passes, so the calls before that must not fill the ring either,
// or the rest wait for the pause to end in ring.PutOne.
func TestStallManyCallers(t *testing.T) {
	srv := redistest.Start(t)
	if !srv.Started() {
		t.Skipf("%s names a shared server, which this test must not pause", redistest.AddrEnv)
	}
	opt := srv.Option()
	opt.PipelineMultiplex = -1 // one connection: one ring of 1024
	rc, admin := redistest.NewClient(t, opt), srv.Client(t)
	c, err := smartlimit.New(rc, smartlimit.WithPrefix(itest.Prefix()), smartlimit.WithoutCoalescing())
	if err != nil {
		t.Fatal(err)
	}
	const (
		workers  = 1500
		deadline = 500 * time.Millisecond
		d        = 4 * time.Second
	)
	l := smartlimit.PerMinute(1_000_000_000)
	var paused, stop atomic.Bool
	var late, during atomic.Int64
	var worst atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for !stop.Load() {
				was := paused.Load()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				_, err := c.Allow(ctx, "many-"+strconv.Itoa(w), l)
				took := time.Since(start)
				cancel()
				if !was {
					continue
				}
				during.Add(1)
				if over := int64(took - deadline); over > worst.Load() {
					worst.Store(over)
				}
				if took > deadline+d/8 || !errors.Is(err, context.DeadlineExceeded) {
					late.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := pause(context.Background(), admin, d); err != nil {
		t.Fatal(err)
	}
	paused.Store(true)
	time.Sleep(d / 2)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d callers: %d calls while paused, %d late, worst overrun %v", workers, during.Load(), late.Load(), time.Duration(worst.Load()).Round(time.Millisecond))
	if late.Load() > 0 || during.Load() == 0 {
		t.Errorf("%d of %d calls while Redis was paused came back late or not with DeadlineExceeded (worst %v past the deadline)",
			late.Load(), during.Load(), time.Duration(worst.Load()))
	}
}
