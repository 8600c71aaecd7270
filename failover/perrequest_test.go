package failover_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/memfallback"
)

// The issue "Hold at the edges", item 5: with memfallback's MaxKeys 100
// and ErrorWhenFull, 300 new keys opened the memory tier's breaker, and an
// existing key then got fail-closed. A full table is the condition of one
// request, not an outage of the tier: it must never count.
func TestFullMemoryTierStaysClosed(t *testing.T) {
	mem, err := memfallback.New(memfallback.Options{MaxKeys: 100, Shards: 1, OnFull: memfallback.ErrorWhenFull, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	c, err := failover.New([]failover.Tier{{Name: smartlimit.TierMemory, Limiter: mem, Timeout: -1}}, failover.Options{
		HealthInterval: -1,
		Breaker:        failover.BreakerOptions{Failures: 5},
		Policy:         func(string, smartlimit.Limit) failover.Policy { return failover.FailOpen },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	old := smartlimit.PerHour(3)
	if r, err := c.Allow(ctx, "existing", old); err != nil || !r.Allowed || r.Tier != smartlimit.TierMemory {
		t.Fatalf("existing key: %+v, %v; want allowed by memory", r, err)
	}
	var full int
	for i := range 300 {
		r, err := c.Allow(ctx, "new"+strconv.Itoa(i), smartlimit.PerHour(1))
		if err != nil {
			t.Fatalf("new key %d: %v", i, err)
		}
		if r.Tier != smartlimit.TierMemory {
			full++ // no room: the policy answered this one request
		}
	}
	if full != 201 { // 99 keys fit beside "existing"
		t.Errorf("%d of 300 new keys found no room, want 201", full)
	}
	if h := c.Health(ctx)[0]; h.Breaker != failover.Closed || h.ConsecutiveFailures != 0 || h.LastError != nil {
		t.Errorf("after 300 new keys on MaxKeys 100: %+v, want the breaker Closed with no failure counted", h)
	}
	// The existing key still gets its tier's real decision: 2 left, then
	// 1, 0, and a denial (FailOpen would have allowed it).
	for i, want := range []int64{1, 0} {
		if r, err := c.Allow(ctx, "existing", old); err != nil || !r.Allowed || r.Remaining != want || r.Tier != smartlimit.TierMemory {
			t.Errorf("existing key, check %d: %+v, %v; want allowed by memory with Remaining %d", i+2, r, err, want)
		}
	}
	if r, err := c.Allow(ctx, "existing", old); err != nil || r.Allowed || r.Tier != smartlimit.TierMemory {
		t.Errorf("existing key over its limit: %+v, %v; want denied by memory", r, err)
	}
}

// perRequestTier fails every call with its error, as a tier whose
// failures are per request would.
type perRequestTier struct {
	err   error
	calls int
}

func (p *perRequestTier) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	p.calls++
	return smartlimit.Result{}, p.err
}

func (p *perRequestTier) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	p.calls++
	errs := make([]error, len(reqs))
	rs := make([]smartlimit.Result, len(reqs))
	for i := range reqs {
		if i%2 == 1 {
			errs[i] = p.err // the odd items fail; the even ones are decided
		} else {
			rs[i] = smartlimit.Result{Allowed: true, Remaining: 7, Tier: "ignored"}
		}
	}
	return rs, &smartlimit.BatchError{Errs: errs}
}

func (p *perRequestTier) Reset(ctx context.Context, key string, l smartlimit.Limit) error { return nil }

// errHot is a third-party tier's per-request error: it matches
// smartlimit.ErrNotDecided through its Is method.
type errHot struct{}

func (errHot) Error() string        { return "thirdparty: document too hot" }
func (errHot) Is(target error) bool { return target == smartlimit.ErrNotDecided }

// TestPerRequestErrorsAreNotOutages checks both sides of the rule the
// package doc names: errors that match smartlimit.ErrNotDecided send that
// request on to the next tier and never count toward the breaker (here,
// 50 of them against a breaker that opens after 3 failures); any other
// error is the tier failing and opens it.
func TestPerRequestErrorsAreNotOutages(t *testing.T) {
	ctx := context.Background()
	for _, x := range []struct {
		name     string
		err      error
		wantOpen bool
	}{
		{"memfallback.ErrFull", memfallback.ErrFull, false},
		{"wrapped ErrNotDecided", fmt.Errorf("sqlstore: row locked: %w", smartlimit.ErrNotDecided), false},
		{"third-party Is method", errHot{}, false},
		{"connection refused", errors.New("dial tcp 127.0.0.1:6379: connection refused"), true},
		{"deadline", context.DeadlineExceeded, true},
	} {
		t.Run(x.name, func(t *testing.T) {
			first := &perRequestTier{err: x.err}
			next, err := memfallback.New(memfallback.Options{SweepInterval: -1, Clock: func() time.Time { return time.Unix(1e9, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			var counted int
			c, err := failover.New([]failover.Tier{
				{Name: "first", Limiter: first, Timeout: -1},
				{Name: smartlimit.TierMemory, Limiter: next, Timeout: -1},
			}, failover.Options{
				HealthInterval: -1,
				Breaker:        failover.BreakerOptions{Failures: 3, Cooldown: time.Hour},
				Hook: failover.Hook{Attempt: func(_ context.Context, a failover.Attempt) {
					if a.Counted {
						counted++
					}
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 50 {
				r, err := c.Allow(ctx, "k"+strconv.Itoa(i), smartlimit.PerHour(10))
				if err != nil || !r.Allowed || r.Tier != smartlimit.TierMemory || r.Remaining != 9 {
					t.Fatalf("call %d: %+v, %v; want the next tier's decision", i, r, err)
				}
			}
			if wantCalls := 50; !x.wantOpen && first.calls != wantCalls {
				t.Errorf("first tier called %d times, want %d: a per-request error must not skip it", first.calls, wantCalls)
			}
			open := c.Health(ctx)[0].Breaker == failover.Open
			if open != x.wantOpen {
				t.Errorf("after 50 calls failing with %v: breaker open = %v, want %v (%d counted)", x.err, open, x.wantOpen, counted)
			}
		})
	}
}

// TestAllowManyPerRequestItems checks that a batch whose failed items all
// failed per request keeps the tier's decisions for the other items, sends
// only the failed ones on to the next tier, and counts nothing.
func TestAllowManyPerRequestItems(t *testing.T) {
	ctx := context.Background()
	first := &perRequestTier{err: memfallback.ErrFull}
	next, err := memfallback.New(memfallback.Options{SweepInterval: -1, Clock: func() time.Time { return time.Unix(1e9, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	c, err := failover.New([]failover.Tier{
		{Name: "first", Limiter: first, Timeout: -1},
		{Name: smartlimit.TierMemory, Limiter: next, Timeout: -1},
	}, failover.Options{HealthInterval: -1, Breaker: failover.BreakerOptions{Failures: 1, Cooldown: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reqs := make([]smartlimit.Request, 5)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "k" + strconv.Itoa(i), Limit: smartlimit.PerHour(10), Cost: 1}
	}
	for round := range 3 {
		rs, err := c.AllowMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			want := smartlimit.Result{Allowed: true, Remaining: 7, Tier: "first"}
			if i%2 == 1 {
				want = smartlimit.Result{Allowed: true, Limit: 10, Remaining: 9 - int64(round), ResetAfter: time.Duration(round+1) * 6 * time.Minute, Tier: smartlimit.TierMemory}
			}
			if r != want {
				t.Errorf("round %d, item %d: %+v, want %+v", round, i, r, want)
			}
		}
	}
	if h := c.Health(ctx)[0]; h.Breaker != failover.Closed {
		t.Errorf("after 3 batches with per-request failures: %+v, want Closed", h)
	}
	if n := next.Len(); n != 2 {
		t.Errorf("the next tier holds %d keys, want the 2 failed items' keys only", n)
	}
}

// TestSlogHookPerRequestIsNotAWarning checks that SlogHook logs
// per-request errors at Info: a flood of new keys on a full memory tier
// must not flood the log with warnings of a tier failing.
func TestSlogHookPerRequestIsNotAWarning(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	next, err := memfallback.New(memfallback.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	c, err := failover.New([]failover.Tier{
		{Name: "first", Limiter: &perRequestTier{err: memfallback.ErrFull}, Timeout: -1},
		{Name: smartlimit.TierMemory, Limiter: next, Timeout: -1},
	}, failover.Options{HealthInterval: -1, Hook: failover.SlogHook(logger)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Allow(context.Background(), "k", smartlimit.PerHour(1)); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); strings.Contains(got, "level=WARN") || !strings.Contains(got, "level=INFO") || !strings.Contains(got, "counted=false") {
		t.Errorf("log:\n%s\nwant the per-request error at INFO, not counted, and no WARN", got)
	}
}

// A condition of the request is no outage, so FailOpen does not let it
// through: a client that fills the memory tier with keys of its own (which
// are not evicted until they replenish) would otherwise be unlimited on
// every key it uses next, with every breaker closed.
func TestFailOpenIsNotForPerRequestErrors(t *testing.T) {
	mem, err := memfallback.New(memfallback.Options{MaxKeys: 10, Shards: 1, OnFull: memfallback.ErrorWhenFull, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	c, err := failover.New([]failover.Tier{{Name: smartlimit.TierMemory, Limiter: mem, Timeout: -1}}, failover.Options{
		HealthInterval: -1,
		Policy:         func(string, smartlimit.Limit) failover.Policy { return failover.FailOpen },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	l := smartlimit.PerHour(2)
	for i := range 10 {
		c.Allow(ctx, "junk"+strconv.Itoa(i), l)
	}
	allowed := 0
	for range 1000 {
		r, err := c.Allow(ctx, "attacker", l)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			allowed++
		}
	}
	if allowed > 2 {
		t.Errorf("a key with no room in a full memory tier: %d of 1000 allowed under FailOpen, want at most the limit's 2", allowed)
	}
	if rs, err := c.AllowMany(ctx, []smartlimit.Request{{Key: "attacker", Limit: l, Cost: 1}}); err != nil || rs[0].Allowed {
		t.Errorf("AllowMany of the same: %+v, %v; want denied", rs, err)
	}
	if r, err := c.AllowAll(ctx, "attacker", 1, l); err != nil || r.Allowed {
		t.Errorf("AllowAll of the same: %+v, %v; want denied", r, err)
	}
	if h := c.Health(ctx)[0]; h.Breaker != failover.Closed {
		t.Errorf("breaker %v, want Closed: a full table is no outage", h.Breaker)
	}
	// A real outage still fails open.
	down, err := failover.New([]failover.Tier{{Name: smartlimit.TierRedis, Limiter: &perRequestTier{err: errors.New("connection refused")}, Timeout: -1}}, failover.Options{
		HealthInterval: -1,
		Policy:         func(string, smartlimit.Limit) failover.Policy { return failover.FailOpen },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if r, err := down.Allow(ctx, "k", l); err != nil || !r.Allowed || r.Tier != smartlimit.TierFailOpen {
		t.Errorf("an outage under FailOpen: %+v, %v; want allowed by fail-open", r, err)
	}
}
