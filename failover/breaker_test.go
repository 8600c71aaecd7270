package failover

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

var lim = smartlimit.PerSecond(10)

// setup returns a Coordinator over tiers with a fake clock, no background
// health checks, jitter that changes nothing (Rand 0.5), and a recording
// hook, unless opts says otherwise.
func setup(t *testing.T, opts Options, tiers ...smartlimit.Limiter) (*Coordinator, *fakeClock, *events) {
	t.Helper()
	clock, ev := newClock(), &events{}
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	if opts.HealthInterval == 0 {
		opts.HealthInterval = -1
	}
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0.5 }
	}
	if opts.Hook.StateChange == nil && opts.Hook.Attempt == nil {
		opts.Hook = ev.hook()
	}
	ts := make([]Tier, len(tiers))
	for i, l := range tiers {
		var name string
		switch f := l.(type) {
		case *fakeTier:
			name = f.name
		case *fullTier:
			name = f.name
		}
		ts[i] = Tier{Name: name, Limiter: l}
	}
	c, err := New(ts, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, clock, ev
}

// allow makes one check and returns the tier that decided.
func allow(t *testing.T, c *Coordinator) string {
	t.Helper()
	r, err := c.Allow(context.Background(), "k", lim)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return r.Tier
}

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	a.set(fail)
	c, _, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 3, ErrorRate: -1}}, a, b)
	for i := range 3 {
		if got, want := allow(t, c), "b"; got != want {
			t.Fatalf("call %d: Tier = %q, want %q", i, got, want)
		}
	}
	if got, want := ev.transitions(), []string{"a:closed>open"}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	allow(t, c)
	if got, want := a.calls.Load(), int64(3); got != want {
		t.Errorf("calls to the open tier = %d, want %d (the fourth skips it)", got, want)
	}
	if got := ev.changes[0].Err; got != errDown {
		t.Errorf("StateChange.Err = %v, want %v", got, errDown)
	}
}

func TestBreakerSuccessResetsConsecutiveFailures(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	c, _, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 3, ErrorRate: -1}}, a, b)
	for i, m := range []behaviour{fail, fail, ok, fail, fail} {
		a.set(m)
		allow(t, c)
		if got := ev.transitions(); len(got) != 0 {
			t.Fatalf("after call %d: transitions = %v, want none", i, got)
		}
	}
	a.set(fail)
	allow(t, c)
	if got, want := ev.transitions(), []string{"a:closed>open"}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerOpensOnErrorRateInWindow(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	c, clock, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 100, ErrorRate: 0.5, MinCalls: 4, Window: 10 * time.Second}}, a, b)
	step := func(m behaviour, wantOpen bool) {
		t.Helper()
		a.set(m)
		allow(t, c)
		if got := len(ev.transitions()) > 0; got != wantOpen {
			t.Fatalf("after %v: open = %v, want %v (transitions %v)", m, got, wantOpen, ev.transitions())
		}
	}
	step(fail, false)
	step(fail, false)
	step(fail, false) // 3 calls: fewer than MinCalls
	clock.Advance(10 * time.Second)
	// The three failures have left the window: 1 of 3, then 1 of 4. Had
	// they stayed, 4 of 6 would have opened the breaker here.
	step(ok, false)
	step(ok, false)
	step(fail, false)
	step(ok, false)
	step(fail, false) // 2 of 5
	step(fail, true)  // 3 of 6
}

func TestBreakerHalfOpenClosesAfterProbes(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	c, clock, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 1, Cooldown: time.Second, Jitter: -1, Probes: 2}}, a, b)
	a.set(fail)
	allow(t, c)
	a.set(ok)
	clock.Advance(time.Second - time.Nanosecond)
	if got, want := allow(t, c), "b"; got != want {
		t.Fatalf("before the cooldown: Tier = %q, want %q", got, want)
	}
	clock.Advance(time.Nanosecond)
	for i := range 2 {
		if got, want := allow(t, c), "a"; got != want {
			t.Fatalf("probe %d: Tier = %q, want %q", i, got, want)
		}
	}
	want := []string{"a:closed>open", "a:open>half-open", "a:half-open>closed"}
	if got := ev.transitions(); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerProbeFailureReopensWithBackoff(t *testing.T) {
	a, b := newFake("a"), newFake("b")
	c, clock, ev := setup(t, Options{Breaker: BreakerOptions{Failures: 1, Cooldown: time.Second, Multiplier: 2, Jitter: -1, Probes: 1}}, a, b)
	a.set(fail)
	allow(t, c) // open, 1s
	clock.Advance(time.Second)
	allow(t, c) // probe fails: open, 2s
	a.set(ok)
	clock.Advance(time.Second)
	if got, want := allow(t, c), "b"; got != want {
		t.Fatalf("1s into the 2s cooldown: Tier = %q, want %q", got, want)
	}
	clock.Advance(time.Second)
	if got, want := allow(t, c), "a"; got != want { // probe succeeds: closed
		t.Fatalf("after the 2s cooldown: Tier = %q, want %q", got, want)
	}
	a.set(fail)
	allow(t, c) // closing reset the backoff: open, 1s
	want := []string{"a:closed>open", "a:open>half-open", "a:half-open>open", "a:open>half-open", "a:half-open>closed", "a:closed>open"}
	if got := ev.transitions(); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
	var cooldowns []time.Duration
	for _, ch := range ev.changes {
		if ch.To == Open {
			cooldowns = append(cooldowns, ch.Cooldown)
		}
	}
	if want := []time.Duration{time.Second, 2 * time.Second, time.Second}; !slices.Equal(cooldowns, want) {
		t.Errorf("cooldowns = %v, want %v", cooldowns, want)
	}
}

// TestBackoffGrowsWithinJitterBounds opens a breaker again and again and
// checks every cooldown against Cooldown·2^(k-1), capped, ±20%.
func TestBackoffGrowsWithinJitterBounds(t *testing.T) {
	const seed = 42
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	a, b := newFake("a"), newFake("b")
	a.set(fail)
	bo := BreakerOptions{Failures: 1, Cooldown: 100 * time.Millisecond, MaxCooldown: time.Second, Multiplier: 2, Jitter: 0.2, Probes: 1}
	c, clock, ev := setup(t, Options{Breaker: bo, Rand: rng.Float64}, a, b)
	allow(t, c)
	for range 7 {
		ev.mu.Lock()
		last := ev.changes[len(ev.changes)-1]
		ev.mu.Unlock()
		clock.Advance(last.Cooldown)
		allow(t, c) // the probe fails and reopens
	}
	var got []time.Duration
	for _, ch := range ev.changes {
		if ch.To == Open {
			got = append(got, ch.Cooldown)
		}
	}
	bases := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000, 1000}
	if len(got) != len(bases) {
		t.Fatalf("%d opens, want %d: %v", len(got), len(bases), got)
	}
	distinct := map[time.Duration]bool{}
	for i, d := range got {
		base := bases[i] * time.Millisecond
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		if d < lo || d > hi {
			t.Errorf("open %d: cooldown %v outside [%v, %v]", i+1, d, lo, hi)
		}
		distinct[d] = true
	}
	if len(distinct) < 6 {
		t.Errorf("cooldowns %v: jitter did not spread them", got)
	}
}

func TestJitterExtremes(t *testing.T) {
	o, err := BreakerOptions{Cooldown: time.Second, Jitter: 0.25}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		k    int
		r    float64
		want time.Duration
	}{
		{1, 0, 750 * time.Millisecond},
		{1, 0.5, time.Second},
		{3, 0, 3 * time.Second},
		{3, 0.5, 4 * time.Second},
		{6, 0.5, 30 * time.Second}, // 32s capped at DefaultMaxCooldown
		{60, 0, 22500 * time.Millisecond},
	} {
		if got := o.jitter(o.backoff(tc.k), tc.r); got != tc.want {
			t.Errorf("cooldown %d with r=%v = %v, want %v", tc.k, tc.r, got, tc.want)
		}
	}
	if got, max := o.jitter(o.backoff(1), 0.9999999), 1250*time.Millisecond; got > max || got < max-time.Millisecond {
		t.Errorf("cooldown with r→1 = %v, want just under %v", got, max)
	}
}

func TestHalfOpenLimitsProbesInFlight(t *testing.T) {
	clock := newClock()
	o, _ := BreakerOptions{Failures: 1, Probes: 2, Jitter: -1}.withDefaults()
	b := &breaker{opts: &o, clock: clock.Now, rand: func() float64 { return 0.5 }}
	tk, _, _ := b.allow()
	b.record(tk, failure)
	clock.Advance(o.Cooldown)
	p1, ok1, ch := b.allow()
	p2, ok2, _ := b.allow()
	_, ok3, _ := b.allow()
	if !ok1 || !ok2 || ok3 || ch.to != HalfOpen {
		t.Fatalf("half-open admitted %v %v %v (change to %v), want true true false", ok1, ok2, ok3, ch.to)
	}
	b.record(p1, success)
	if _, ok, _ := b.allow(); ok {
		t.Fatalf("one success and one probe in flight: a third probe was admitted")
	}
	b.record(p2, neutral) // say, the caller's context ended: frees the slot
	st, _, _ := b.snapshot()
	if st != HalfOpen {
		t.Fatalf("state = %v, want half-open", st)
	}
	p3, ok, _ := b.allow()
	if !ok {
		t.Fatalf("a neutral outcome did not free its probe slot")
	}
	if ch := b.record(p3, success); ch.to != Closed {
		t.Fatalf("two successful probes: change to %v, want closed", ch.to)
	}
}

// TestStaleOutcomesIgnored: calls in flight when the breaker opens must not
// reopen it or lengthen its cooldown when they fail afterwards.
func TestStaleOutcomesIgnored(t *testing.T) {
	clock := newClock()
	o, _ := BreakerOptions{Failures: 2, Jitter: -1}.withDefaults()
	b := &breaker{opts: &o, clock: clock.Now, rand: func() float64 { return 0.5 }}
	var tks []ticket
	for range 10 {
		tk, ok, _ := b.allow()
		if !ok {
			t.Fatal("closed breaker refused a call")
		}
		tks = append(tks, tk)
	}
	b.record(tks[0], failure)
	if ch := b.record(tks[1], failure); ch.to != Open {
		t.Fatalf("second failure: change to %v, want open", ch.to)
	}
	_, _, retry := b.snapshot()
	clock.Advance(time.Millisecond)
	for _, tk := range tks[2:] {
		if ch := b.record(tk, failure); ch.from != ch.to {
			t.Fatalf("stale failure changed the state: %v > %v", ch.from, ch.to)
		}
	}
	if _, _, got := b.snapshot(); !got.Equal(retry) || b.opens != 1 {
		t.Fatalf("stale failures moved the cooldown: retry at %v, was %v; opens %d", got, retry, b.opens)
	}
}

func TestBreakerOptionsValidation(t *testing.T) {
	for _, o := range []BreakerOptions{
		{Failures: -1}, {ErrorRate: 1.5}, {Multiplier: 0.5}, {Jitter: 1}, {Cooldown: -time.Second}, {Probes: -2},
	} {
		if _, err := New([]Tier{{Name: "a", Limiter: newFake("a")}}, Options{Breaker: o, HealthInterval: -1}); err == nil {
			t.Errorf("New with %+v: no error", o)
		}
	}
}
