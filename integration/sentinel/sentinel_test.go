// Package sentinel tests the engine behind Redis Sentinel: when the primary
// dies and Sentinel promotes the replica, the client follows the new
// primary and keeps checking.
package sentinel

import (
	"context"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// TestFailover kills the primary (or, on Sentinels of the user's own, asks
// for a failover) while goroutines check limits. Checks may fail while no
// primary answers, with errors a caller can classify and within their
// deadlines; once Sentinel has promoted the replica, they must succeed
// again, on the new primary, which had no scripts cached (the script cache
// is not replicated) and gets them through the NOSCRIPT fallback; and every
// algorithm must then meet the conformance expectations there.
func TestMain(m *testing.M) {
	os.Exit(itest.Main(m, nil))
}

func TestFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	rc := s.Client(t)
	c := itest.NewClient(t, rc)
	ctx := context.Background()
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	const deadline = 250 * time.Millisecond
	const slack = time.Second // a late goroutine on a busy machine; a hang would wait for rueidis' 5 s dial timeout or more

	var ok, failed, slow, untyped atomic.Int64
	var lastOK atomic.Int64 // unix nanoseconds of the latest success
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, deadline)
				t0 := time.Now()
				_, err := c.Allow(cctx, "f-"+strconv.Itoa(g*7+i%7), smartlimit.PerSecond(1000))
				cancel()
				took := time.Since(t0)
				if err == nil {
					ok.Add(1)
					lastOK.Store(time.Now().UnixNano())
					continue
				}
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				if took > deadline+slack {
					slow.Add(1)
				}
				if !itest.TransportError(err) {
					untyped.Add(1)
					t.Errorf("failover error is not a transport error: %T %v", err, err)
				}
				time.Sleep(10 * time.Millisecond) // a caller's backoff
			}
		})
	}

	time.Sleep(300 * time.Millisecond)
	okBefore := ok.Load()
	old, err := s.Failover(ctx)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("failover: %v", err)
	}
	failedAt := time.Now()

	// Sentinel needs its down-after time (1 s here) and an election; give
	// it 30 s, then wait for checks to run on the new primary.
	var primary string
	for time.Since(failedAt) < 30*time.Second {
		if p, err := s.PrimaryAddr(ctx); err == nil && p != old {
			primary = p
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	promotedAt := time.Now()
	for primary != "" && lastOK.Load() < promotedAt.UnixNano() && time.Since(promotedAt) < 10*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Unix(0, lastOK.Load()).Sub(promotedAt)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("primary %s → %s after %v; checks: %d ok before, %d ok in all, %d failed (%d past deadline); "+
		"checks succeed again %v after Sentinel reports the promotion; first error: %v",
		old, primary, promotedAt.Sub(failedAt).Round(time.Millisecond), okBefore, ok.Load(), failed.Load(), slow.Load(),
		recovered.Round(time.Millisecond), firstErr.Load())
	if primary == "" {
		t.Fatalf("Sentinel never promoted a new primary")
	}
	if okBefore == 0 {
		t.Errorf("no check succeeded before the failover")
	}
	if lastOK.Load() < promotedAt.UnixNano() {
		t.Fatalf("no check succeeded after the promotion of %s", primary)
	}
	if n := slow.Load(); n > 0 {
		t.Errorf("%d failing calls took past their %v deadline", n, deadline)
	}

	// The client talks to the new primary, where the script it used is
	// cached now.
	if nodes := slices.Collect(maps.Keys(rc.Nodes())); len(nodes) != 1 || nodes[0] != primary {
		t.Errorf("client nodes = %v, want [%s]", nodes, primary)
	}
	gcra, _ := smartlimit.ScriptFor(smartlimit.GCRA)
	if found, err := rc.Do(ctx, rc.B().ScriptExists().Sha1(gcra.SHA1).Build()).AsIntSlice(); err != nil || len(found) != 1 || found[0] != 1 {
		t.Errorf("SCRIPT EXISTS gcra on the new primary = %v, %v; want [1]", found, err)
	}
	t.Run("ConformanceAfterFailover", func(t *testing.T) {
		itest.Conformance(t, func(t *testing.T) *smartlimit.Client { return itest.NewClient(t, rc) })
	})
}
