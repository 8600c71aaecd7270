package standalone

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// TestKillRestartUnderLoad kills redis-server with SIGKILL while goroutines
// check limits, keeps it down for a second, and starts it again on the same
// port. While it is down every check must fail fast with an error a caller
// can classify (never hang past its context's deadline, never look like
// bad input); afterwards checks must succeed again with no help, the
// restarted server's empty script cache refilled through NOSCRIPT.
func TestKillRestartUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	if !srv.Started() {
		t.Skipf("%s names a server this test cannot kill", redistest.AddrEnv)
	}
	rc := srv.Client(t)
	c := itest.NewClient(t, rc)
	const deadline = 250 * time.Millisecond
	// slack is what a call may take past its deadline without being a
	// hang: a goroutine scheduled late on a two-core machine shared by
	// many jobs (at load 17 one failing call took 838 ms). A call that ignored its
	// context would wait for rueidis' dial timeout (5 s) or
	// ConnWriteTimeout (10 s), far beyond it.
	const slack = time.Second

	type outcome struct {
		at, took time.Duration
		err      error
	}
	var mu sync.Mutex
	var outcomes []outcome
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				t0 := time.Now()
				var err error
				if i%5 == 4 {
					// Two algorithms in one batch: it runs in "multi".
					_, err = c.AllowMany(ctx, []smartlimit.Request{
						{Key: "a-" + strconv.Itoa(g), Limit: smartlimit.PerSecond(1000), Cost: 1},
						{Key: "b-" + strconv.Itoa(g), Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1000, Period: time.Second}, Cost: 1},
					})
				} else {
					_, err = c.Allow(ctx, "k-"+strconv.Itoa(g), smartlimit.PerSecond(1000))
				}
				cancel()
				mu.Lock()
				outcomes = append(outcomes, outcome{at: t0.Sub(start), took: time.Since(t0), err: err})
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond) // a caller's backoff; keeps the log small
				}
			}
		})
	}

	time.Sleep(300 * time.Millisecond)
	killedAt := time.Since(start)
	srv.Kill()
	time.Sleep(time.Second)
	restartedAt := time.Since(start)
	srv.Restart()
	// Wait for the first success after the restart, then a little more.
	recovered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range slices.Backward(outcomes) {
			if o.at > restartedAt && o.err == nil {
				return true
			}
		}
		return false
	}
	for waited := time.Duration(0); !recovered() && waited < 10*time.Second; waited += 20 * time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	var before, down, after, failedDown, failedAfter, late int
	var firstOK time.Duration = -1
	var slowest time.Duration
	var lastErr error
	for _, o := range outcomes {
		switch {
		case o.at+o.took < killedAt:
			before++
			if o.err != nil {
				t.Errorf("check before the kill failed: %v", o.err)
			}
			continue
		case o.at < restartedAt:
			down++
		default:
			after++
		}
		if o.err == nil {
			if o.at >= restartedAt && (firstOK < 0 || o.at < firstOK) {
				firstOK = o.at
			}
			continue
		}
		if o.at < restartedAt {
			failedDown++
		} else {
			failedAfter++
		}
		lastErr = o.err
		slowest = max(slowest, o.took)
		if o.took > deadline+50*time.Millisecond {
			late++
		}
		if !itest.TransportError(o.err) {
			t.Errorf("error at %v is not a transport error: %T %v", o.at, o.err, o.err)
		}
		var in *smartlimit.InputError
		if errors.As(o.err, &in) {
			t.Errorf("error at %v looks like bad input: %v", o.at, o.err)
		}
		if o.took > deadline+slack {
			t.Errorf("a call started %v after the kill (restart at %v) failed after %v, past its %v deadline: %v",
				o.at-killedAt, restartedAt-killedAt, o.took, deadline, o.err)
		}
	}
	t.Logf("checks: %d before the kill, %d while down (%d failed), %d after the restart (%d failed); "+
		"slowest failure %v (%d failures over deadline + 50 ms); first success %v after the restart; last error: %v",
		before, down, failedDown, after, failedAfter, slowest, late, firstOK-restartedAt, lastErr)
	if failedDown == 0 {
		t.Errorf("no check failed while Redis was down")
	}
	if firstOK < 0 {
		t.Fatalf("no check succeeded after the restart")
	}

	// The new process started with an empty script cache: the client met
	// NOSCRIPT and loaded the script again by itself.
	ctx := context.Background()
	if n, err := itest.ErrorCount(ctx, rc, "NOSCRIPT"); err != nil || n == 0 {
		t.Errorf("NOSCRIPT errors on the restarted server = %d, %v; want some", n, err)
	}
	missing, err := smartlimit.MissingScripts(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range missing[srv.Addr] {
		if name == "gcra" || name == "multi" {
			t.Errorf("script %s not reloaded on the restarted server", name)
		}
	}
}
