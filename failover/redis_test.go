package failover_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/internal/redistest"
	"github.com/smartlimit/smartlimit/memfallback"
)

// fastClient returns a rueidis client on addr that notices a dead server
// quickly: dials give up after 50ms, a connection that cannot write or
// answer PING within 200ms is dropped, and nothing is retried. The
// Coordinator's deadline bounds each call anyway; these keep the client
// from spending that deadline on a socket that is already gone.
func fastClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:      []string{addr},
		DisableCache:     true,
		DisableRetry:     true,
		ConnWriteTimeout: 200 * time.Millisecond,
		Dialer:           net.Dialer{Timeout: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	t.Cleanup(rc.Close)
	return rc
}

// failoverRun counts what the hook sees during TestRedisKilledUnderLoad.
type failoverRun struct {
	mu                        sync.Mutex
	opened, halfOpen, closed  time.Time // first transitions after the kill
	failedAtHalfOpen          int64     // failed user calls to redis since the kill, when it first went half-open
	failedAtOpen              int64     // ... when it first opened
	failed, timedOut, probeKO atomic.Int64
	killed                    atomic.Bool
}

func (f *failoverRun) hook() failover.Hook {
	return failover.Hook{
		StateChange: func(_ context.Context, c failover.StateChange) {
			if c.Tier != smartlimit.TierRedis || !f.killed.Load() {
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			now := time.Now()
			switch {
			case c.To == failover.Open && f.opened.IsZero():
				f.opened = now
				f.failedAtOpen = f.failed.Load()
			case c.To == failover.HalfOpen && f.halfOpen.IsZero():
				f.halfOpen = now
				f.failedAtHalfOpen = f.failed.Load()
			case c.To == failover.Closed && f.closed.IsZero():
				f.closed = now
			}
		},
		Attempt: func(_ context.Context, a failover.Attempt) {
			if a.Tier != smartlimit.TierRedis || a.Err == nil {
				return
			}
			if a.Op == failover.OpProbe {
				f.probeKO.Add(1)
				return
			}
			f.failed.Add(1)
			if a.TimedOut {
				f.timedOut.Add(1)
			}
		},
	}
}

// TestRedisKilledUnderLoad checks through redis → memory from 64
// goroutines, kills Redis with SIGKILL in the middle, restarts it, and
// checks that callers never saw an error, that only the calls before the
// breaker opened paid for the outage, and that traffic went back to Redis.
func TestRedisKilledUnderLoad(t *testing.T) {
	s := redistest.Start(t)
	rl, err := smartlimit.New(fastClient(t, s.Addr))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memfallback.New(memfallback.Options{LocalShare: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()

	const (
		workers   = 64
		threshold = 5
	)
	run := &failoverRun{}
	c, err := failover.New([]failover.Tier{
		{Name: smartlimit.TierRedis, Limiter: rl},
		{Name: smartlimit.TierMemory, Limiter: mem},
	}, failover.Options{
		Timeout:        50 * time.Millisecond,
		HealthInterval: 50 * time.Millisecond,
		Breaker:        failover.BreakerOptions{Failures: threshold, Cooldown: 300 * time.Millisecond, MaxCooldown: time.Second, Probes: 3},
		Hook:           run.hook(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var (
		tiers  sync.Map // tier name → *atomic.Int64
		errs   atomic.Int64
		panics atomic.Int64
		calls  atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	count := func(tier string) *atomic.Int64 {
		v, _ := tiers.LoadOrStore(tier, new(atomic.Int64))
		return v.(*atomic.Int64)
	}
	lim := smartlimit.PerSecond(1_000_000)
	for w := range workers {
		wg.Go(func() {
			defer func() {
				if recover() != nil {
					panics.Add(1)
				}
			}()
			key := fmt.Sprintf("user-%d", w%16)
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.Allow(context.Background(), key, lim)
				calls.Add(1)
				if err != nil {
					errs.Add(1)
				} else {
					count(r.Tier).Add(1)
				}
				time.Sleep(time.Millisecond) // a service's pace, and room for the other tests on this machine
			}
		})
	}

	time.Sleep(500 * time.Millisecond)
	if got := count(smartlimit.TierRedis).Load(); got == 0 {
		t.Fatalf("no check answered by Redis while it was up")
	}
	beforeKill := calls.Load()
	// Count from the kill on: on a busy machine, calls may have run into
	// their deadline, and even opened the breaker, while Redis was up.
	run.killed.Store(true)
	run.failed.Store(0)
	run.timedOut.Store(0)
	run.probeKO.Store(0)
	killed := time.Now()
	s.Kill()
	time.Sleep(time.Second)
	memDuringOutage := count(smartlimit.TierMemory).Load()

	failedAtRestart := run.failed.Load()
	restarted := time.Now()
	s.Restart()
	redisAtRestart := count(smartlimit.TierRedis).Load()
	deadline := time.Now().Add(8 * time.Second)
	for count(smartlimit.TierRedis).Load() < redisAtRestart+1000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	run.mu.Lock()
	defer run.mu.Unlock()
	if got := errs.Load(); got != 0 {
		t.Errorf("%d errors returned to callers, want 0", got)
	}
	if got := panics.Load(); got != 0 {
		t.Errorf("%d panics, want 0", got)
	}
	if run.opened.IsZero() || run.halfOpen.IsZero() || run.closed.IsZero() {
		t.Fatalf("breaker transitions after the kill: opened %v, half-open %v, closed %v; want all three", run.opened, run.halfOpen, run.closed)
	}
	if memDuringOutage == 0 {
		t.Errorf("no check answered by memory while Redis was down")
	}
	// Before the breaker opened, each call to Redis failed or ran into its
	// deadline; once open, calls skip Redis until the first probe. So the
	// calls that paid are at most the threshold plus those in flight.
	if got, max := run.failedAtHalfOpen, int64(threshold+workers); got > max {
		t.Errorf("%d calls failed on Redis before the breaker opened, want at most threshold %d + in-flight %d", got, threshold, workers)
	}
	if got := count(smartlimit.TierRedis).Load() - redisAtRestart; got < 1000 {
		t.Errorf("only %d checks went back to Redis after the restart", got)
	}
	r, err := c.Allow(context.Background(), "after", lim)
	if err != nil || r.Tier != smartlimit.TierRedis {
		t.Errorf("after recovery: Allow = %+v, %v; want Redis to answer", r, err)
	}
	h := c.Health(context.Background())
	if h[0].Breaker != failover.Closed || !h[0].Up || h[0].LastError == nil {
		t.Errorf("Health of redis after recovery = %+v, want closed, up, with the outage's last error", h[0])
	}

	t.Logf("calls: %d before the kill, %d in all; answered by redis %d, memory %d", beforeKill, calls.Load(), count(smartlimit.TierRedis).Load(), count(smartlimit.TierMemory).Load())
	t.Logf("switch: breaker open %v after the kill", run.opened.Sub(killed))
	t.Logf("calls delayed: %d user calls failed on Redis before the breaker's first probe, %d when it opened (%d of them ran into the 50ms deadline); bound %d; %d health probes failed in all",
		run.failedAtHalfOpen, run.failedAtOpen, run.timedOut.Load(), threshold+workers, run.probeKO.Load())
	t.Logf("user calls failed on Redis after the first probe: %d while it was down (half-open probes), %d after the restart",
		failedAtRestart-run.failedAtHalfOpen, run.failed.Load()-failedAtRestart)
	t.Logf("recovery: breaker closed %v after the restart (%v after the kill)", run.closed.Sub(restarted), run.closed.Sub(killed))
}

// TestEveryTierDown checks FailClosed and FailOpen end to end: Redis is
// the only tier, and it is dead.
func TestEveryTierDown(t *testing.T) {
	s := redistest.Start(t)
	rl, err := smartlimit.New(fastClient(t, s.Addr))
	if err != nil {
		t.Fatal(err)
	}
	c, err := failover.New([]failover.Tier{{Name: smartlimit.TierRedis, Limiter: rl}}, failover.Options{
		HealthInterval: -1, RetryAfter: 3 * time.Second,
		Policy: failover.PolicyByLimit(map[smartlimit.Limit]failover.Policy{smartlimit.PerSecond(100): failover.FailOpen}, failover.FailClosed),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	login, api := smartlimit.PerMinute(5), smartlimit.PerSecond(100)
	if r, err := c.Allow(ctx, "alice", login); err != nil || !r.Allowed || r.Tier != smartlimit.TierRedis {
		t.Fatalf("with Redis up: %+v, %v", r, err)
	}
	s.Kill()
	for i := range 10 { // before and after the breaker opens
		r, err := c.Allow(ctx, "alice", login)
		if err != nil || r.Allowed || r.Tier != smartlimit.TierFailClosed || r.RetryAfter != 3*time.Second {
			t.Fatalf("login check %d with Redis dead = %+v, %v; want fail-closed, retry after 3s", i, r, err)
		}
		r, err = c.Allow(ctx, "alice", api)
		if err != nil || !r.Allowed || r.Tier != smartlimit.TierFailOpen {
			t.Fatalf("api check %d with Redis dead = %+v, %v; want fail-open", i, r, err)
		}
		r, err = c.Allow(failover.WithPolicy(ctx, failover.FailOpen), "alice", login)
		if err != nil || !r.Allowed || r.Tier != smartlimit.TierFailOpen {
			t.Fatalf("login check %d with WithPolicy(FailOpen) = %+v, %v; want fail-open", i, r, err)
		}
	}
	if h := c.Health(ctx); h[0].Breaker != failover.Open || h[0].Up || h[0].LastError == nil {
		t.Errorf("Health with Redis dead = %+v, want open and down", h[0])
	}
	rs, err := c.AllowMany(ctx, []smartlimit.Request{{Key: "a", Limit: login, Cost: 1}, {Key: "b", Limit: api, Cost: 1}})
	if err != nil || rs[0].Tier != smartlimit.TierFailClosed || rs[1].Tier != smartlimit.TierFailOpen {
		t.Errorf("AllowMany with Redis dead = %+v, %v", rs, err)
	}
}
