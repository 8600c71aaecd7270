package failover

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

func TestHangingTierCostsOneTimeout(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set(hang)
	c, _, ev := setup(t, Options{Timeout: 20 * time.Millisecond}, a, b)
	if got, want := allow(t, c), "b"; got != want {
		t.Fatalf("Tier = %q, want %q", got, want)
	}
	ev.mu.Lock()
	first := ev.attempts[0]
	ev.mu.Unlock()
	if first.Tier != "a" || !first.TimedOut || !first.Counted || !errors.Is(first.Err, context.DeadlineExceeded) {
		t.Errorf("attempt on the hanging tier = %+v, want a timed-out, counted failure", first)
	}
}

func TestPerTierTimeout(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set(hang)
	c, err := New([]Tier{{Name: "a", Limiter: a, Timeout: 5 * time.Millisecond}, {Name: "b", Limiter: b}}, Options{Timeout: time.Hour, HealthInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// With the hour-long default applying, this would hang the test.
	if r, err := c.Allow(context.Background(), "k", lim); err != nil || r.Tier != "b" {
		t.Fatalf("Allow = %+v, %v; want Tier b", r, err)
	}
}

func TestBadInputIsNotCountedAndNotRetried(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	c, _, _ := setup(t, Options{Breaker: BreakerOptions{Failures: 1}}, a, b)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		key  string
		l    smartlimit.Limit
		n    int64
		want error
	}{
		{"empty key", "", lim, 1, smartlimit.ErrInvalidKey},
		{"zero rate", "k", smartlimit.Limit{Period: time.Second}, 1, smartlimit.ErrInvalidLimit},
		{"negative cost", "k", lim, -1, smartlimit.ErrInvalidCost},
	} {
		if _, err := c.AllowN(ctx, tc.key, tc.l, tc.n); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := c.AllowMany(ctx, []smartlimit.Request{{Key: "k", Limit: lim, Cost: 1}, {Key: "", Limit: lim, Cost: 1}}); !errors.Is(err, smartlimit.ErrInvalidKey) || !strings.Contains(err.Error(), "request 1") {
		t.Errorf("AllowMany with a bad request: err = %v, want ErrInvalidKey naming request 1", err)
	}
	if n := a.calls.Load() + b.calls.Load(); n != 0 {
		t.Fatalf("bad input reached the tiers %d times", n)
	}
	// A tier that rejects input the Coordinator let through: the error
	// goes to the caller at once, the next tier is not asked, and the
	// breaker (Failures: 1) stays closed.
	a.set(badReply)
	for range 3 {
		if _, err := c.Allow(ctx, "k", lim); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Fatalf("err = %v, want ErrInvalidLimit", err)
		}
	}
	if got := b.calls.Load(); got != 0 {
		t.Errorf("the next tier was asked %d times after bad input", got)
	}
	if st, _, _ := c.tiers[0].br.snapshot(); st != Closed {
		t.Errorf("breaker = %v after bad input, want closed", st)
	}
}

func TestCallerCancellationIsNotCounted(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set(hang)
	c, _, _ := setup(t, Options{Breaker: BreakerOptions{Failures: 1}}, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err := c.Allow(ctx, "k", lim)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's context.DeadlineExceeded", err)
	}
	if st, _, _ := c.tiers[0].br.snapshot(); st != Closed {
		t.Errorf("breaker = %v after the caller's deadline, want closed", st)
	}
	if got := b.calls.Load(); got != 0 {
		t.Errorf("the next tier was asked %d times for a caller that had gone", got)
	}
}

func TestPolicies(t *testing.T) {
	ctx := context.Background()
	l := smartlimit.PerMinute(5)
	tests := []struct {
		name     string
		opts     func(local smartlimit.Limiter) Options
		ctx      context.Context
		localBad bool
		want     smartlimit.Result
	}{
		{
			name: "default is fail-closed",
			opts: func(smartlimit.Limiter) Options { return Options{RetryAfter: 7 * time.Second} },
			want: smartlimit.Result{Allowed: false, Limit: 5, RetryAfter: 7 * time.Second, ResetAfter: 7 * time.Second, Tier: smartlimit.TierFailClosed},
		},
		{
			name: "fail-open",
			opts: func(smartlimit.Limiter) Options {
				return Options{Policy: func(string, smartlimit.Limit) Policy { return FailOpen }}
			},
			want: smartlimit.Result{Allowed: true, Limit: 5, Remaining: 3, Tier: smartlimit.TierFailOpen},
		},
		{
			name: "local",
			opts: func(local smartlimit.Limiter) Options {
				return Options{Local: local, Policy: func(string, smartlimit.Limit) Policy { return Local }}
			},
			want: smartlimit.Result{Allowed: true, Limit: 5, Remaining: 3, Tier: "fake-local"},
		},
		{
			name: "local without Options.Local is fail-closed",
			opts: func(smartlimit.Limiter) Options {
				return Options{Policy: func(string, smartlimit.Limit) Policy { return Local }}
			},
			want: smartlimit.Result{Limit: 5, RetryAfter: time.Second, ResetAfter: time.Second, Tier: smartlimit.TierFailClosed},
		},
		{
			name:     "local that fails is fail-closed",
			localBad: true,
			opts: func(local smartlimit.Limiter) Options {
				return Options{Local: local, Policy: func(string, smartlimit.Limit) Policy { return Local }}
			},
			want: smartlimit.Result{Limit: 5, RetryAfter: time.Second, ResetAfter: time.Second, Tier: smartlimit.TierFailClosed},
		},
		{
			name: "per limit",
			opts: func(smartlimit.Limiter) Options {
				return Options{Policy: PolicyByLimit(map[smartlimit.Limit]Policy{l: FailOpen}, FailClosed)}
			},
			want: smartlimit.Result{Allowed: true, Limit: 5, Remaining: 3, Tier: smartlimit.TierFailOpen},
		},
		{
			name: "per call overrides per limit",
			opts: func(smartlimit.Limiter) Options {
				return Options{Policy: PolicyByLimit(map[smartlimit.Limit]Policy{l: FailOpen}, FailClosed)}
			},
			ctx:  WithPolicy(ctx, FailClosed),
			want: smartlimit.Result{Limit: 5, RetryAfter: time.Second, ResetAfter: time.Second, Tier: smartlimit.TierFailClosed},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, local := newFake("a"), newFake("b"), newFake("local")
			a.set(fail)
			b.set(hang)
			if tc.localBad {
				local.set(fail)
			}
			c, _, ev := setup(t, tc.opts(local), a, b)
			cctx := ctx
			if tc.ctx != nil {
				cctx = tc.ctx
			}
			got, err := c.AllowN(cctx, "k", l, 2)
			if err != nil {
				t.Fatalf("AllowN: %v (a policy answers; no error)", err)
			}
			if got != tc.want {
				t.Fatalf("AllowN = %+v, want %+v", got, tc.want)
			}
			if a := ev.lastAttempt(); !a.Fallback || a.Tier != tc.want.Tier || a.Allowed != tc.want.Allowed {
				t.Errorf("last Attempt = %+v, want the policy's answer", a)
			}
			if tc.want.Tier == "fake-local" && local.usedOf("k") != 2 {
				t.Errorf("local used %d, want 2", local.usedOf("k"))
			}
		})
	}
}

func TestAllowManyMovesAsAWhole(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set(batchErr)
	c, _, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 1}}, a, b)
	reqs := []smartlimit.Request{{Key: "x", Limit: lim, Cost: 1}, {Key: "y", Limit: lim, Cost: 2}, {Key: "z", Limit: lim, Cost: 3}}
	rs, err := c.AllowMany(context.Background(), reqs)
	if err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	for i, r := range rs {
		if r.Tier != "b" || !r.Allowed || r.Remaining != 10-reqs[i].Cost {
			t.Errorf("result %d = %+v, want allowed by b with %d remaining", i, r, 10-reqs[i].Cost)
		}
	}
	// The partial answer of a consumed there: the documented double count.
	if got, want := a.usedOf("x"), int64(1); got != want {
		t.Errorf("a used %d for x, want %d", got, want)
	}
	if got, want := ev.transitions(), []string{"a:closed>open"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("transitions = %v, want %v: a BatchError counts as the tier failing", got, want)
	}
	// Empty batches touch nothing.
	if rs, err := c.AllowMany(context.Background(), nil); err != nil || len(rs) != 0 {
		t.Errorf("AllowMany(nil) = %v, %v", rs, err)
	}
}

func TestAllowManyFallbackPerRequest(t *testing.T) {
	a, local := newFake("a"), newFake("local")
	a.set(fail)
	policy := func(key string, _ smartlimit.Limit) Policy {
		switch {
		case strings.HasPrefix(key, "open"):
			return FailOpen
		case strings.HasPrefix(key, "local"):
			return Local
		}
		return FailClosed
	}
	c, _, _ := setup(t, Options{Policy: policy, Local: local}, a)
	reqs := []smartlimit.Request{{Key: "open1", Limit: lim, Cost: 1}, {Key: "local1", Limit: lim, Cost: 4}, {Key: "closed", Limit: lim, Cost: 1}, {Key: "local2", Limit: lim, Cost: 1}}
	rs, err := c.AllowMany(context.Background(), reqs)
	if err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	want := []string{smartlimit.TierFailOpen, "fake-local", smartlimit.TierFailClosed, "fake-local"}
	for i, r := range rs {
		if r.Tier != want[i] {
			t.Errorf("result %d: Tier %q, want %q", i, r.Tier, want[i])
		}
	}
	if got := local.calls.Load(); got != 1 {
		t.Errorf("local was called %d times, want once for both local requests", got)
	}
	if got := local.usedOf("local1"); got != 4 {
		t.Errorf("local used %d for local1, want 4", got)
	}
}

func TestOptionalInterfaces(t *testing.T) {
	ctx := context.Background()
	plain, full := newFake("plain"), newFull("full")
	c, _, _ := setup(t, Options{}, plain, full)
	conc := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: time.Minute}

	if r, err := c.Peek(ctx, "k", lim); err != nil || r.Tier != "full" || r.Remaining != 10 {
		t.Errorf("Peek = %+v, %v; want 10 remaining from full", r, err)
	}
	if r, err := c.AllowAll(ctx, "k", 1, lim, smartlimit.PerMinute(3)); err != nil || r.Tier != "full" || r.Remaining != 2 {
		t.Errorf("AllowAll = %+v, %v; want 2 remaining from full", r, err)
	}
	lease, r, err := c.Acquire(ctx, "job", conc)
	if err != nil || lease == nil || r.Tier != "full" {
		t.Fatalf("Acquire = %v, %+v, %v", lease, r, err)
	}
	if err := lease.Release(ctx); err != nil || full.released.Load() != 1 {
		t.Errorf("Release = %v, released %d; want the full tier to get it", err, full.released.Load())
	}
	if got := plain.calls.Load(); got != 0 {
		t.Errorf("the tier without the interfaces was called %d times", got)
	}
	if _, _, err := c.Acquire(ctx, "job", lim); !errors.Is(err, smartlimit.ErrInvalidLimit) {
		t.Errorf("Acquire of a GCRA limit: err = %v, want ErrInvalidLimit", err)
	}
	if _, err := c.AllowAll(ctx, "k", 1); !errors.Is(err, smartlimit.ErrInvalidLimit) {
		t.Errorf("AllowAll without limits: err = %v, want ErrInvalidLimit", err)
	}

	only, _, _ := setup(t, Options{}, newFake("only"))
	if _, err := only.Peek(ctx, "k", lim); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Peek with no Peeker: err = %v, want ErrUnsupported", err)
	}
	if _, err := only.AllowAll(ctx, "k", 1, lim); !errors.Is(err, ErrUnsupported) {
		t.Errorf("AllowAll with no MultiLimiter: err = %v, want ErrUnsupported", err)
	}
	if _, _, err := only.Acquire(ctx, "k", conc); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Acquire with no Leaser: err = %v, want ErrUnsupported", err)
	}
}

func TestOptionalInterfacesFallback(t *testing.T) {
	ctx := context.Background()
	full, local := newFull("full"), newFull("local")
	full.set(fail)
	conc := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: time.Minute}

	open, _, _ := setup(t, Options{Policy: func(string, smartlimit.Limit) Policy { return FailOpen }}, full)
	lease, r, err := open.Acquire(ctx, "job", conc)
	if err != nil || lease == nil || !r.Allowed || r.Tier != smartlimit.TierFailOpen {
		t.Fatalf("fail-open Acquire = %v, %+v, %v", lease, r, err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("fail-open lease Release: %v", err)
	}
	if r, err := open.Peek(ctx, "k", lim); err != nil || !r.Allowed || r.Remaining != 10 || r.Tier != smartlimit.TierFailOpen {
		t.Errorf("fail-open Peek = %+v, %v", r, err)
	}

	closed, _, _ := setup(t, Options{}, full)
	if lease, r, err := closed.Acquire(ctx, "job", conc); err != nil || lease != nil || r.Allowed || r.Tier != smartlimit.TierFailClosed {
		t.Errorf("fail-closed Acquire = %v, %+v, %v", lease, r, err)
	}
	// The strictest policy of the limits applies to AllowAll.
	strict := PolicyByLimit(map[smartlimit.Limit]Policy{lim: FailOpen}, FailClosed)
	mixed, _, _ := setup(t, Options{Policy: strict}, full)
	if r, err := mixed.AllowAll(ctx, "k", 1, lim, smartlimit.PerMinute(3)); err != nil || r.Allowed || r.Tier != smartlimit.TierFailClosed {
		t.Errorf("AllowAll with one closed limit = %+v, %v; want fail-closed", r, err)
	}

	loc, _, _ := setup(t, Options{Local: local, Policy: func(string, smartlimit.Limit) Policy { return Local }}, full)
	if r, err := loc.AllowAll(ctx, "k", 1, lim); err != nil || !r.Allowed || r.Tier != "fake-local" {
		t.Errorf("local AllowAll = %+v, %v", r, err)
	}
	if lease, r, err := loc.Acquire(ctx, "job", conc); err != nil || lease == nil || r.Tier != "fake-local" {
		t.Errorf("local Acquire = %v, %+v, %v", lease, r, err)
	}
}

func TestResetReachesEveryTier(t *testing.T) {
	ctx := context.Background()
	a, b, local := newFake("a"), newFake("b"), newFake("local")
	c, _, _ := setup(t, Options{Local: local}, a, b)
	if err := c.Reset(ctx, "k", lim); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if a.resets.Load() != 1 || b.resets.Load() != 1 || local.resets.Load() != 1 {
		t.Errorf("resets a=%d b=%d local=%d, want 1 each", a.resets.Load(), b.resets.Load(), local.resets.Load())
	}
	b.set(fail)
	if err := c.Reset(ctx, "k", lim); !errors.Is(err, errDown) || !strings.Contains(err.Error(), "b") {
		t.Errorf("Reset with b down: err = %v, want errDown naming b", err)
	}
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	a, b := newFake("a"), newFake("b")
	c, clock, _ := setup(t, Options{Breaker: BreakerOptions{Failures: 2, Cooldown: time.Second, Jitter: -1, Probes: 2}}, a, b)
	a.clock, a.latency = clock, 3*time.Millisecond
	b.clock, b.latency = clock, 7*time.Millisecond
	b.set(fail)

	hs := c.Health(ctx)
	if len(hs) != 2 || hs[0].Name != "a" || hs[1].Name != "b" {
		t.Fatalf("Health = %+v, want a and b in order", hs)
	}
	if h := hs[0]; !h.Up || h.Breaker != Closed || h.LastError != nil || h.CheckedAt.IsZero() {
		t.Errorf("a = %+v, want up, closed, no error", h)
	}
	if h := hs[1]; h.Up || h.Breaker != Closed || h.LastError != errDown || h.ConsecutiveFailures != 1 || h.Latency < 7*time.Millisecond {
		t.Errorf("b = %+v, want down, closed, errDown, 1 failure, latency ≥ 7ms", h)
	}
	// A second failed check opens b before any user call found it down.
	hs = c.Health(ctx)
	if h := hs[1]; h.Breaker != Open || h.RetryAt.IsZero() {
		t.Fatalf("b = %+v, want open with a RetryAt", h)
	}
	calls := b.calls.Load()
	allow(t, c)
	c.Health(ctx)
	if got := b.calls.Load(); got != calls {
		t.Errorf("an open tier was called %d times before its cooldown", got-calls)
	}
	// b comes back; after the cooldown two checks close it.
	b.set(ok)
	clock.Advance(time.Second)
	if h := c.Health(ctx)[1]; h.Breaker != HalfOpen || !h.Up {
		t.Fatalf("b after one probe = %+v, want half-open and up", h)
	}
	h := c.Health(ctx)[1]
	if h.Breaker != Closed || !h.Up || h.LastError != errDown || h.LastErrorAt.IsZero() {
		t.Fatalf("b after two probes = %+v, want closed and up, the last error kept", h)
	}
}

func TestBackgroundHealthChecks(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set(fail)
	clock := newClock()
	ev := &events{}
	c, err := New([]Tier{{Name: "a", Limiter: a}, {Name: "b", Limiter: b}}, Options{
		HealthInterval: time.Millisecond, Clock: clock.Now, Hook: ev.hook(),
		Breaker: BreakerOptions{Failures: 2, Jitter: -1, Probes: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the checks to open a", func() bool { st, _, _ := c.tiers[0].br.snapshot(); return st == Open })
	ev.mu.Lock()
	probes := len(ev.attempts)
	ev.mu.Unlock()
	if probes < 2 {
		t.Fatalf("%d attempts recorded, want the checks' (at least 2)", probes)
	}
	a.set(ok)
	clock.Advance(DefaultCooldown)
	waitFor(t, "the checks to close a", func() bool { st, _, _ := c.tiers[0].br.snapshot(); return st == Closed })
	if got := allow(t, c); got != "a" {
		t.Errorf("after recovery: Tier = %q, want a", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := quietGoroutines()
	var cs []*Coordinator
	for range 3 {
		a, b := newFake("a"), newFake("b")
		c, err := New([]Tier{{Name: "a", Limiter: a}, {Name: "b", Limiter: b}}, Options{HealthInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		waitFor(t, "health checks to run", func() bool { return a.calls.Load() > 2 && b.calls.Load() > 2 })
	}
	during := runtime.NumGoroutine()
	for _, c := range cs {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		c.Close() // idempotent
	}
	after, ok := settle(before, 5*time.Second)
	if !ok {
		t.Fatalf("%d goroutines after Close, %d before", after, before)
	}
	// Compared with the count after Close, not before: goroutines that
	// earlier tests left winding down may end in between.
	if during-after < 6 {
		t.Fatalf("%d goroutines with 3 coordinators of 2 tiers, %d after Close: want the 6 health checks among them", during, after)
	}
}

// quietGoroutines returns the goroutine count once it has stopped falling,
// so that what earlier tests left winding down is not counted.
func quietGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

func TestHookAndSlog(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "latency" {
				return slog.Attr{}
			}
			return a
		},
	}))
	a := newFake("a")
	a.set(fail)
	c, clock, _ := setup(t, Options{Hook: SlogHook(logger), Breaker: BreakerOptions{Failures: 1, Cooldown: time.Second, Jitter: -1, Probes: 1}}, a)
	allow(t, c)
	a.set(ok)
	clock.Advance(time.Second)
	allow(t, c)
	want := `level=WARN msg="failover: tier failed" tier=a op=allow error="fake: connection refused" counted=true timed_out=false
level=WARN msg="failover: breaker open" tier=a from=closed to=open cooldown=1s error="fake: connection refused"
level=WARN msg="failover: no tier answered; policy decided" tier=fail-closed op=allow allowed=false
level=INFO msg="failover: breaker half-open" tier=a from=open to=half-open
level=DEBUG msg="failover: tier answered" tier=a op=allow allowed=true
level=INFO msg="failover: breaker closed" tier=a from=half-open to=closed
`
	if got := buf.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestNewValidation(t *testing.T) {
	f := newFake("f")
	for _, tc := range []struct {
		name  string
		tiers []Tier
		opts  Options
	}{
		{"no tiers", nil, Options{}},
		{"nil limiter", []Tier{{Name: "a"}}, Options{}},
		{"no name", []Tier{{Limiter: f}}, Options{}},
		{"duplicate name", []Tier{{Name: "a", Limiter: f}, {Name: "a", Limiter: f}}, Options{}},
		{"policy name", []Tier{{Name: smartlimit.TierFailOpen, Limiter: f}}, Options{}},
		{"negative timeout", []Tier{{Name: "a", Limiter: f}}, Options{Timeout: -1}},
		{"bad probe key", []Tier{{Name: "a", Limiter: f}}, Options{ProbeKey: "a}b"}},
	} {
		if c, err := New(tc.tiers, tc.opts); err == nil {
			c.Close()
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

func TestWait(t *testing.T) {
	a := newFake("a")
	c, _, _ := setup(t, Options{RetryAfter: time.Hour}, a)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Wait(ctx, "k", lim); err != nil {
		t.Fatalf("Wait with a healthy tier: %v", err)
	}
	if got := a.usedOf("k"); got != 1 {
		t.Errorf("Wait consumed %d, want 1", got)
	}
	// Every tier down, fail-closed: the retry hint outlasts the deadline,
	// so WaitN gives up at once instead of sleeping.
	a.set(fail)
	if err := c.WaitN(ctx, "k", lim, 2); !errors.Is(err, smartlimit.ErrWouldExceedDeadline) {
		t.Errorf("WaitN with every tier down = %v, want ErrWouldExceedDeadline", err)
	}
}

func TestLeaseReleaseFailure(t *testing.T) {
	ctx := context.Background()
	full, b := newFull("full"), newFake("b")
	c, _, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 1}}, full, b)
	conc := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: time.Minute}
	lease, _, err := c.Acquire(ctx, "job", conc)
	if err != nil || lease == nil {
		t.Fatalf("Acquire = %v, %v", lease, err)
	}
	full.set(fail)
	err = lease.Release(ctx)
	if !errors.Is(err, errDown) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Release on a failing tier = %v, want errDown naming the tier", err)
	}
	if a := ev.lastAttempt(); a.Op != OpRelease || !a.Counted {
		t.Errorf("last Attempt = %+v, want a counted release failure", a)
	}
	if got := ev.transitions(); len(got) != 1 || got[0] != "full:closed>open" {
		t.Errorf("transitions = %v, want the failed release to open the breaker", got)
	}
	// A lease is owed its release even while the breaker is open.
	full.set(ok)
	if err := lease.Release(ctx); err != nil || full.released.Load() != 1 {
		t.Errorf("Release with the breaker open = %v, released %d; want it delivered", err, full.released.Load())
	}
}

func TestPeekLocalFallback(t *testing.T) {
	full, local := newFull("full"), newFull("local")
	full.set(fail)
	c, _, _ := setup(t, Options{Local: local, Policy: func(string, smartlimit.Limit) Policy { return Local }}, full)
	if _, err := local.AllowN(context.Background(), "k", lim, 4); err != nil {
		t.Fatal(err)
	}
	r, err := c.Peek(context.Background(), "k", lim)
	if err != nil || r.Tier != "fake-local" || r.Remaining != 6 {
		t.Errorf("Peek = %+v, %v; want 6 remaining from local", r, err)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FailClosed.String(), "fail-closed"}, {FailOpen.String(), "fail-open"}, {Local.String(), "local"}, {Policy(9).String(), "unknown"},
		{Closed.String(), "closed"}, {Open.String(), "open"}, {HalfOpen.String(), "half-open"}, {State(9).String(), "unknown"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
	// Policy names are the Tier names of their results.
	if FailOpen.String() != smartlimit.TierFailOpen || FailClosed.String() != smartlimit.TierFailClosed {
		t.Errorf("policy names differ from smartlimit's tier names")
	}
}
