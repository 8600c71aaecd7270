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

// hookClient passes calls on to a rueidis client, first running before
// with the call's context and number of commands, and reports mode as its
// topology.
type hookClient struct {
	rueidis.Client
	mode   rueidis.ClientMode
	before func(ctx context.Context, cmds int)
}

func (c *hookClient) Mode() rueidis.ClientMode { return c.mode }

func (c *hookClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.before(ctx, 1)
	return c.Client.Do(ctx, cmd)
}

func (c *hookClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.before(ctx, len(cmds))
	return c.Client.DoMulti(ctx, cmds...)
}

// singleClient returns a rueidis client on addr, a miniredis, as a plain
// redis-server gets it: rueidis takes miniredis, which answers CLUSTER
// SLOTS, for a one-node Cluster unless forced.
func singleClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

// New coalesces on a standalone Redis and behind Sentinel unless told not
// to, and not on a Cluster unless told to: 64 simultaneous checks take
// fewer script calls than checks exactly when coalescing is on.
func TestCoalescingDefault(t *testing.T) {
	for _, tc := range []struct {
		mode rueidis.ClientMode
		opts []smartlimit.Option
		on   bool
	}{
		{rueidis.ClientModeStandalone, nil, true},
		{rueidis.ClientModeSentinel, nil, true},
		{rueidis.ClientModeCluster, nil, false},
		{rueidis.ClientModeStandalone, []smartlimit.Option{smartlimit.WithoutCoalescing()}, false},
		{rueidis.ClientModeCluster, []smartlimit.Option{smartlimit.WithCoalescing(0)}, true},
		{rueidis.ClientModeStandalone, []smartlimit.Option{smartlimit.WithCoalescing(0), smartlimit.WithoutCoalescing()}, false},
	} {
		t.Run(fmt.Sprintf("%s/%d options/on=%v", tc.mode, len(tc.opts), tc.on), func(t *testing.T) {
			// Calls take 20ms, so that simultaneous checks pile up.
			var calls atomic.Int64
			rc := &hookClient{Client: singleClient(t, smartlimittest.New(t).Miniredis.Addr()), mode: tc.mode,
				before: func(_ context.Context, cmds int) { calls.Add(int64(cmds)); time.Sleep(20 * time.Millisecond) }}
			lim, err := smartlimit.New(rc, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			l := smartlimit.Limit{Rate: 1000, Period: time.Second}
			const checks = 64
			var wg sync.WaitGroup
			for g := range checks {
				wg.Go(func() {
					if _, err := lim.Allow(ctx, fmt.Sprint("k", g%8), l); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if on := calls.Load() < checks; on != tc.on {
				t.Errorf("%d checks took %d script calls: coalescing %v, want %v", checks, calls.Load(), on, tc.on)
			}
		})
	}
}

// A queued check returns when its own context ends, though its batch,
// which carries a check without deadline, goes on.
func TestCoalescedCheckReturnsAtItsDeadline(t *testing.T) {
	single := singleClient(t, smartlimittest.New(t).Miniredis.Addr())
	if err := smartlimit.LoadScripts(ctx, single); err != nil {
		t.Fatal(err)
	}
	// The first four calls are held until first is closed, the later ones
	// until later is (or their context ends, as rueidis honors it).
	var calls atomic.Int64
	first, later, started := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	rc := &hookClient{Client: single, mode: rueidis.ClientModeStandalone, before: func(ctx context.Context, _ int) {
		gate := first
		if calls.Add(1) > 4 {
			gate = later
			select {
			case started <- struct{}{}:
			default:
			}
		}
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}}
	lim, err := smartlimit.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	l := smartlimit.PerSecond(1000)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(later) // first, on any return: let the held batches end
	// Four batches in flight, held.
	for range 4 {
		wg.Go(func() {
			if _, err := lim.Allow(ctx, "bg", l); err != nil {
				t.Error(err)
			}
		})
	}
	for calls.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	xdone := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := lim.Allow(c, "x", l) // queues behind the four
		xdone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	wg.Go(func() {
		if _, err := lim.Allow(ctx, "y", l); err != nil { // no deadline
			t.Error(err)
		}
	})
	time.Sleep(20 * time.Millisecond)
	close(first) // the four return; [x, y] goes out, and is held
	select {
	case <-started:
	case err := <-xdone:
		t.Fatalf("x returned (%v) before its batch was sent", err)
	}
	select {
	case err := <-xdone:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("x: %v, want its deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("x waited for its batch past its deadline")
	}
}
