package limitertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// testAllowAllAt checks AllowAll of a sliding window and GCRA at base, when
// the backend has AllowAll.
func testAllowAllAt(t *testing.T, b Backend, base time.Time) {
	t.Helper()
	multi, ok := as[smartlimit.MultiLimiter](b)
	if !ok {
		return
	}
	b.SetTime(base)
	sw := smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 2, Period: s}
	for i, want := range []bool{true, true, false} {
		r, err := multi.AllowAll(context.Background(), "all", 1, sw, smartlimit.PerSecond(10))
		if err != nil {
			t.Fatalf("AllowAll %d at %v: %v", i, base, err)
		}
		if r.Allowed != want || r.Remaining != max(0, 1-int64(i)) {
			t.Fatalf("AllowAll %d at %v = %s, want allowed %v, Remaining %d", i, base, format(r), want, max(0, 1-int64(i)))
		}
	}
}

// A case is a named test on a fresh backend whose clock is at T0.
type testCase struct {
	name       string
	run        func(t *testing.T, b Backend)
	concurrent bool // calls the backend from many goroutines at once
}

var cases = []testCase{
	{"BadInput", testBadInput, false},
	{"DeniedConsumesNothing", testDeniedConsumesNothing, false},
	{"LimitsAreSeparate", testLimitsAreSeparate, false},
	{"Reset", testReset, false},
	{"AllowManyOrder", testAllowManyOrder, false},
	{"AllowAll", testAllowAll, false},
	{"AllowAllDayLimitDenies", testAllowAllDayDenies, false},
	{"AllowAllResults", testAllowAllResults, false},
	{"Leases", testLeases, false},
	{"Concurrent", testConcurrent, true},
	{"CanceledContext", testCanceledContext, false},
}

// allowN calls AllowN and fails the test on error.
func allowN(t *testing.T, b Backend, key string, l smartlimit.Limit, n int64) smartlimit.Result {
	t.Helper()
	r, err := b.AllowN(context.Background(), key, l, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %v, %d): %v", key, l, n, err)
	}
	return r
}

// allAlgorithms is one limit of capacity 5 per algorithm.
var allAlgorithms = []smartlimit.Limit{
	{Algorithm: smartlimit.GCRA, Rate: 5, Period: s},
	{Algorithm: smartlimit.TokenBucket, Rate: 5, Period: s},
	{Algorithm: smartlimit.FixedWindow, Rate: 5, Period: s},
	{Algorithm: smartlimit.SlidingWindow, Rate: 5, Period: s},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 5, Period: s},
	{Algorithm: smartlimit.LeakyBucket, Rate: 5, Period: s},
	{Algorithm: smartlimit.Concurrency, Rate: 5, Period: s},
}

func testBadInput(t *testing.T, b Backend) {
	ctx := context.Background()
	good := smartlimit.PerSecond(10)
	bad := []struct {
		key   string
		limit smartlimit.Limit
		cost  int64
		is    error
		field string
	}{
		{"", good, 1, smartlimit.ErrInvalidKey, "key"},
		{"a}b", good, 1, smartlimit.ErrInvalidKey, "key"},
		{strings.Repeat("x", smartlimit.MaxKeyLen+1), good, 1, smartlimit.ErrInvalidKey, "key"},
		{"k", smartlimit.Limit{Rate: 0, Period: s}, 1, smartlimit.ErrInvalidLimit, "rate"},
		{"k", smartlimit.Limit{Rate: -1, Period: s}, 1, smartlimit.ErrInvalidLimit, "rate"},
		{"k", smartlimit.Limit{Rate: 1, Period: 0}, 1, smartlimit.ErrInvalidLimit, "period"},
		{"k", smartlimit.Limit{Rate: 1, Period: 1500 * time.Nanosecond}, 1, smartlimit.ErrInvalidLimit, "period"},
		{"k", smartlimit.Limit{Rate: 1, Period: s, Burst: -1}, 1, smartlimit.ErrInvalidLimit, "burst"},
		{"k", smartlimit.Limit{Algorithm: 99, Rate: 1, Period: s}, 1, smartlimit.ErrInvalidLimit, "algorithm"},
		{"k", smartlimit.Limit{Rate: 1 << 62, Period: s}, 1, smartlimit.ErrInvalidLimit, "rate"},
		{"k", good, -1, smartlimit.ErrInvalidCost, "cost"},
		{"k", smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 5, Period: s}, 2, smartlimit.ErrInvalidCost, "cost"},
	}
	check := func(call string, err error, is error, field string) {
		t.Helper()
		var ie *smartlimit.InputError
		if !errors.Is(err, is) || !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s = %v, want an *InputError on %s matching %v (rule: bad input is a typed error before any I/O)", call, err, field, is)
		}
	}
	peeker, canPeek := as[smartlimit.Peeker](b)
	multi, canMulti := as[smartlimit.MultiLimiter](b)
	for _, c := range bad {
		// Bad input must be caught on a warm key and limit too (a tier may
		// cache what it validated): warm them first.
		if c.limit.Validate() == nil {
			allowN(t, b, "warm", c.limit, 1)
			if smartlimit.CheckRequest(c.key, c.limit, 1) == nil {
				allowN(t, b, c.key, c.limit, 1)
			}
		}
		_, err := b.AllowN(ctx, c.key, c.limit, c.cost)
		check(fmt.Sprintf("AllowN(%.20q, %v, %d)", c.key, c.limit, c.cost), err, c.is, c.field)
		_, err = b.AllowMany(ctx, []smartlimit.Request{{Key: "ok", Limit: good, Cost: 1}, {Key: c.key, Limit: c.limit, Cost: c.cost}})
		check(fmt.Sprintf("AllowMany(..., {%.20q, %v, %d})", c.key, c.limit, c.cost), err, c.is, c.field)
		if c.field != "cost" {
			err = b.Reset(ctx, c.key, c.limit)
			check(fmt.Sprintf("Reset(%.20q, %v)", c.key, c.limit), err, c.is, c.field)
			if canPeek {
				_, err = peeker.Peek(ctx, c.key, c.limit)
				check(fmt.Sprintf("Peek(%.20q, %v)", c.key, c.limit), err, c.is, c.field)
			}
		}
		if canMulti && c.limit.Algorithm != smartlimit.Concurrency {
			_, err = multi.AllowAll(ctx, c.key, c.cost, good, c.limit)
			check(fmt.Sprintf("AllowAll(%.20q, %d, %v, %v)", c.key, c.cost, good, c.limit), err, c.is, c.field)
		}
	}
	// Nothing was consumed by the rejected batch's good item.
	if r := allowN(t, b, "ok", good, 0); r.Remaining != 10 {
		t.Errorf("after rejected batches, AllowN(ok, 0).Remaining = %d, want 10 (rule: bad input is rejected before anything is decided)", r.Remaining)
	}
	if canMulti {
		if _, err := multi.AllowAll(ctx, "k", 1); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("AllowAll with no limits = %v, want ErrInvalidLimit", err)
		}
		if _, err := multi.AllowAll(ctx, "k", 1, good, good); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("AllowAll with the same limit twice = %v, want ErrInvalidLimit", err)
		}
		if _, err := multi.AllowAll(ctx, "k", 1, good, allAlgorithms[6]); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("AllowAll with a Concurrency limit = %v, want ErrInvalidLimit", err)
		}
	}
	if leaser, ok := as[smartlimit.Leaser](b); ok {
		if _, _, err := leaser.Acquire(ctx, "k", good); !errors.Is(err, smartlimit.ErrInvalidLimit) {
			t.Errorf("Acquire with a GCRA limit = %v, want ErrInvalidLimit", err)
		}
	}
}

func testDeniedConsumesNothing(t *testing.T, b Backend) {
	// Concurrency takes cost 0 or 1 only; its table covers its denials.
	for _, l := range allAlgorithms[:6] {
		key := "k-" + l.Algorithm.String()
		allowN(t, b, key, l, 3)
		for _, cost := range []int64{3, 6} { // over what is left; over capacity
			if r := allowN(t, b, key, l, cost); r.Allowed {
				t.Fatalf("%v: AllowN(%d) after 3 of 5 allowed", l, cost)
			}
		}
		if r := allowN(t, b, key, l, 0); r.Remaining != 2 {
			t.Errorf("%v: Remaining after denials = %d, want 2 (rule: a denied request consumes nothing)", l, r.Remaining)
		}
		if r := allowN(t, b, key, l, 2); !r.Allowed || r.Remaining != 0 {
			t.Errorf("%v: AllowN(2) after denials = %s, want allowed with Remaining 0 (rule: a denied request consumes nothing)", l, format(r))
		}
	}
}

func testLimitsAreSeparate(t *testing.T, b Backend) {
	// One key under two limits, and two keys under one: four states.
	a, c := smartlimit.PerSecond(2), smartlimit.PerSecond(3)
	allowN(t, b, "k", a, 2)
	for _, x := range []struct {
		key  string
		l    smartlimit.Limit
		want int64
	}{{"k", a, 0}, {"k", c, 3}, {"other", a, 2}, {"k", smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: s}, 2}} {
		if r := allowN(t, b, x.key, x.l, 0); r.Remaining != x.want {
			t.Errorf("AllowN(%q, %v, 0).Remaining = %d, want %d (rule: each key and limit has its own state)", x.key, x.l, r.Remaining, x.want)
		}
	}
}

func testReset(t *testing.T, b Backend) {
	for _, l := range allAlgorithms {
		key := "k-" + l.Algorithm.String()
		for range 5 {
			allowN(t, b, key, l, 1)
		}
		if r := allowN(t, b, key, l, 1); r.Allowed {
			t.Fatalf("%v: sixth unit allowed", l)
		}
		if err := b.Reset(context.Background(), key, l); err != nil {
			t.Fatalf("%v: Reset: %v", l, err)
		}
		if r := allowN(t, b, key, l, 0); r.Remaining != 5 || r.ResetAfter != 0 {
			t.Errorf("%v: after Reset: %s, want Remaining 5, ResetAfter 0 (rule: Reset forgets the state)", l, format(r))
		}
	}
	// Reset of a key that has no state is no error.
	if err := b.Reset(context.Background(), "never-seen", smartlimit.PerSecond(1)); err != nil {
		t.Errorf("Reset of an unknown key: %v", err)
	}
}

func testAllowManyOrder(t *testing.T, b Backend) {
	gcra := smartlimit.PerSecond(3)
	fw := smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: s}
	reqs := []smartlimit.Request{
		{Key: "a", Limit: gcra, Cost: 2},
		{Key: "b", Limit: fw, Cost: 1},
		{Key: "a", Limit: gcra, Cost: 2}, // 1 left: denied
		{Key: "a", Limit: gcra, Cost: 1},
		{Key: "b", Limit: fw, Cost: 1},
		{Key: "b", Limit: fw, Cost: 0},
		{Key: "a", Limit: gcra, Cost: 1},
	}
	want := []struct {
		allowed   bool
		remaining int64
	}{{true, 1}, {true, 1}, {false, 1}, {true, 0}, {true, 0}, {true, 0}, {false, 0}}
	rs, err := b.AllowMany(context.Background(), reqs)
	if err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	if len(rs) != len(reqs) {
		t.Fatalf("AllowMany returned %d results for %d requests", len(rs), len(reqs))
	}
	for i, r := range rs {
		if r.Allowed != want[i].allowed || r.Remaining != want[i].remaining || r.Limit != reqs[i].Limit.Capacity() {
			t.Errorf("AllowMany result %d (%+v) = %s, want Allowed %v Remaining %d (rule: AllowMany decides in request order, as AllowN would)",
				i, reqs[i], format(r), want[i].allowed, want[i].remaining)
		}
	}
	if rs, err := b.AllowMany(context.Background(), nil); err != nil || len(rs) != 0 {
		t.Errorf("AllowMany(nil) = %v, %v; want no results, no error", rs, err)
	}
}

// testAllowAllResults: each limit's own Result, in order; the one that
// would have passed alone reports what is there, uncharged, with no retry.
func testAllowAllResults(t *testing.T, b Backend) {
	each, ok := as[smartlimit.MultiResultLimiter](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.MultiResultLimiter")
	}
	ctx := context.Background()
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(1000)
	rs, err := each.AllowAllResults(ctx, "k", 10, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want := []smartlimit.Result{
		{Allowed: true, Limit: 10, Remaining: 0, ResetAfter: s},
		{Allowed: true, Limit: 1000, Remaining: 990, ResetAfter: 864 * s},
	}
	checkEach := func(what string, rs, want []smartlimit.Result) {
		t.Helper()
		if len(rs) != len(want) {
			t.Fatalf("%s: %d results, want %d", what, len(rs), len(want))
		}
		for i := range want {
			want[i].Tier = rs[i].Tier
			if rs[i] != want[i] {
				t.Fatalf("%s: result %d = %s, want %s", what, i, format(rs[i]), format(want[i]))
			}
		}
	}
	checkEach("AllowAllResults(10, 10/s, 1000/day)", rs, want)
	if i := smartlimit.Binding(rs); i != 0 {
		t.Errorf("Binding = %d, want 0 (the least Remaining)", i)
	}
	rs, err = each.AllowAllResults(ctx, "k", 1, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want = []smartlimit.Result{
		{Allowed: false, Limit: 10, Remaining: 0, RetryAfter: 100 * ms, ResetAfter: s},
		// Not charged: what is there, Allowed false, no retry of its own.
		{Allowed: false, Limit: 1000, Remaining: 990, ResetAfter: 864 * s},
	}
	checkEach("AllowAllResults(1) over 10/s", rs, want)
	if i := smartlimit.Binding(rs); i != 0 {
		t.Errorf("Binding = %d, want 0 (the limit that denied)", i)
	}
}

func testAllowAll(t *testing.T, b Backend) {
	multi, ok := as[smartlimit.MultiLimiter](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.MultiLimiter")
	}
	ctx := context.Background()
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(1000)
	r, err := multi.AllowAll(ctx, "k", 10, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	// Allowed: the binding result is the least Remaining (0 of 10/s), the
	// longest ResetAfter (10 units of 86.4 s).
	want := smartlimit.Result{Allowed: true, Limit: 10, Remaining: 0, ResetAfter: 864 * s, Tier: r.Tier}
	if r != want {
		t.Fatalf("AllowAll(10, 10/s, 1000/day) = %s, want %s", format(r), format(want))
	}
	// The second limit denies: neither is charged.
	r, err = multi.AllowAll(ctx, "k", 1, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want = smartlimit.Result{Allowed: false, Limit: 10, Remaining: 0, RetryAfter: 100 * ms, ResetAfter: 864 * s, Tier: r.Tier}
	if r != want {
		t.Fatalf("AllowAll(1) over 10/s = %s, want %s", format(r), format(want))
	}
	if r := allowN(t, b, "k", day, 0); r.Remaining != 990 {
		t.Errorf("1000/day Remaining after a denied AllowAll = %d, want 990 (rule: when either limit denies, neither is charged)", r.Remaining)
	}
	// Cost 0 asks all limits without charging.
	r, err = multi.AllowAll(ctx, "k", 0, sec, day)
	if err != nil || !r.Allowed || r.Remaining != 0 {
		t.Errorf("AllowAll(0) = %s, %v; want allowed, Remaining 0", format(r), err)
	}
}

func testAllowAllDayDenies(t *testing.T, b Backend) {
	multi, ok := as[smartlimit.MultiLimiter](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.MultiLimiter")
	}
	ctx := context.Background()
	// 25/day: one unit is 3456 s; cap 25 units.
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(25)
	for i, at := range []time.Duration{0, s} {
		b.SetTime(T0.Add(at))
		if r, err := multi.AllowAll(ctx, "k", 10, sec, day); err != nil || !r.Allowed {
			t.Fatalf("AllowAll %d = %s, %v; want allowed", i, format(r), err)
		}
	}
	// Day backlog at 2 s: 69118 s; 10 more units need 103678 s of 86400 s.
	b.SetTime(T0.Add(2 * s))
	r, err := multi.AllowAll(ctx, "k", 10, sec, day)
	if err != nil {
		t.Fatal(err)
	}
	want := smartlimit.Result{Allowed: false, Limit: 25, Remaining: 5, RetryAfter: 17278 * s, ResetAfter: 69118 * s, Tier: r.Tier}
	if r != want {
		t.Fatalf("AllowAll(10) over 25/day = %s, want %s (rule: the binding result of a denial is the denying limit's)", format(r), format(want))
	}
	if r := allowN(t, b, "k", sec, 0); r.Remaining != 10 {
		t.Errorf("10/s Remaining after a denied AllowAll = %d, want 10 (rule: when either limit denies, neither is charged)", r.Remaining)
	}
}

func testLeases(t *testing.T, b Backend) {
	leaser, ok := as[smartlimit.Leaser](b)
	if !ok {
		t.Skip("backend does not implement smartlimit.Leaser")
	}
	ctx := context.Background()
	l := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: 10 * s}
	acquire := func(wantOK bool, wantRemaining int64) *smartlimit.Lease {
		t.Helper()
		ls, r, err := leaser.Acquire(ctx, "k", l)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if r.Allowed != wantOK || (ls != nil) != wantOK || r.Remaining != wantRemaining {
			t.Fatalf("Acquire = %v, %s; want allowed %v, Remaining %d", ls, format(r), wantOK, wantRemaining)
		}
		return ls
	}
	a := acquire(true, 1)
	acquire(true, 0)
	acquire(false, 0)
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("second Release: %v (rule: releasing a released lease is not an error)", err)
	}
	c := acquire(true, 0)
	acquire(false, 0)
	// Every lease was taken at T0: at T0+Period all have expired.
	b.SetTime(T0.Add(10 * s))
	acquire(true, 1)
	if err := c.Release(ctx); err != nil {
		t.Fatalf("Release of an expired lease: %v (rule: not an error)", err)
	}
	acquire(true, 0)
}

func testConcurrent(t *testing.T, b Backend) {
	const goroutines = 64
	for _, l := range allAlgorithms {
		key := "k-" + l.Algorithm.String()
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Go(func() {
				r, err := b.AllowN(context.Background(), key, l, 1)
				if err != nil {
					errs <- err
					return
				}
				if r.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%v: AllowN: %v", l, err)
		}
		if got, want := allowed.Load(), l.Capacity(); got != want {
			t.Errorf("%v: %d goroutines at one instant: %d allowed, want %d (rule: checks are atomic)", l, goroutines, got, want)
		}
	}
}

func testCanceledContext(t *testing.T, b Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.AllowN(ctx, "k", smartlimit.PerSecond(1), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("AllowN with a canceled context = %v, want context.Canceled", err)
	}
	if r := allowN(t, b, "k", smartlimit.PerSecond(1), 0); r.Remaining != 1 {
		t.Errorf("Remaining after a canceled call = %d, want 1", r.Remaining)
	}
}
