package itest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// Algorithms lists every algorithm but Concurrency, which hands out leases
// and is tested on its own.
var Algorithms = []smartlimit.Algorithm{
	smartlimit.GCRA, smartlimit.TokenBucket, smartlimit.LeakyBucket,
	smartlimit.FixedWindow, smartlimit.SlidingWindow, smartlimit.SlidingWindowCounter,
}

// bucket reports whether a counts Burst units refilled continuously.
func bucket(a smartlimit.Algorithm) bool {
	return a == smartlimit.GCRA || a == smartlimit.TokenBucket || a == smartlimit.LeakyBucket
}

// aligned reports whether a's windows are aligned to multiples of the
// period, so that a test crossing a boundary sees a new window.
func aligned(a smartlimit.Algorithm) bool {
	return a == smartlimit.FixedWindow || a == smartlimit.SlidingWindowCounter
}

// MaxRetryAfter is the longest RetryAfter that a request of cost 1 denied
// under l can be told: one emission interval (Period/Rate) for bucket
// algorithms, the rest of the window for fixed and sliding windows, and for
// the sliding window counter the rest of the window plus the time the
// previous window's weight takes to drop by one unit.
func MaxRetryAfter(l smartlimit.Limit) time.Duration {
	switch {
	case bucket(l.Algorithm):
		return ceilDiv(l.Period, l.Rate)
	case l.Algorithm == smartlimit.SlidingWindowCounter:
		return l.Period + ceilDiv(l.Period, l.Rate)
	}
	return l.Period
}

// MaxResetAfter is the longest time a key can take to be back to full:
// Capacity emission intervals for bucket algorithms, two windows for the
// sliding window counter (the current one still weighs on the next), one
// period for the others.
func MaxResetAfter(l smartlimit.Limit) time.Duration {
	switch {
	case bucket(l.Algorithm):
		return time.Duration(l.Capacity()) * ceilDiv(l.Period, l.Rate)
	case l.Algorithm == smartlimit.SlidingWindowCounter:
		return 2 * l.Period
	}
	return l.Period
}

func ceilDiv(d time.Duration, n int64) time.Duration {
	return (d + time.Duration(n) - 1) / time.Duration(n)
}

// AvoidWindowEdge sleeps past the next window boundary of l when it is
// nearer than margin by Redis TIME, so that a test of an aligned-window
// algorithm runs inside one window.
func AvoidWindowEdge(tb testing.TB, c *smartlimit.Client, l smartlimit.Limit, margin time.Duration) {
	tb.Helper()
	if !aligned(l.Algorithm) {
		return
	}
	now, err := RedisTime(context.Background(), c.Redis())
	if err != nil {
		tb.Fatalf("TIME: %v", err)
	}
	left := l.Period - time.Duration(now.UnixNano()%int64(l.Period))
	if left < margin {
		time.Sleep(left + 10*time.Millisecond)
	}
}

// Conformance runs the expectations every algorithm must meet on a real
// server against the clients that newClient returns, one per subtest, each
// with keys of its own. The subtests run in parallel.
func Conformance(t *testing.T, newClient func(t *testing.T) *smartlimit.Client) {
	for _, a := range Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			t.Parallel()
			t.Run("BurstThenDeny", func(t *testing.T) {
				t.Parallel()
				testBurstThenDeny(t, newClient(t), a)
			})
			t.Run("RetryAfterIsHonest", func(t *testing.T) {
				t.Parallel()
				testRetryAfterIsHonest(t, newClient(t), a)
			})
		})
	}
	t.Run("concurrency", func(t *testing.T) {
		t.Parallel()
		testConcurrency(t, newClient(t))
	})
	t.Run("AllowAll", func(t *testing.T) {
		t.Parallel()
		testAllowAll(t, newClient(t))
	})
	t.Run("AllowManyOrder", func(t *testing.T) {
		t.Parallel()
		testAllowManyOrder(t, newClient(t))
	})
}

// slowLimit is a limit of capacity 5 that refills one unit per 12 minutes:
// over a test's few milliseconds nothing refills, so counts are exact.
func slowLimit(a smartlimit.Algorithm) smartlimit.Limit {
	l := smartlimit.Limit{Algorithm: a, Rate: 5, Period: time.Hour}
	if bucket(a) {
		l.Burst = 5
	}
	return l
}

func testBurstThenDeny(t *testing.T, c *smartlimit.Client, a smartlimit.Algorithm) {
	ctx := context.Background()
	l := slowLimit(a)
	capacity := l.Capacity()
	AvoidWindowEdge(t, c, l, 5*time.Second)
	const key = "burst"
	interval := l.Period / time.Duration(l.Rate)

	r, err := c.Peek(ctx, key, l)
	if err != nil {
		t.Fatalf("Peek fresh key: %v", err)
	}
	if !r.Allowed || r.Remaining != capacity || r.Limit != capacity || r.Tier != smartlimit.TierRedis {
		t.Fatalf("Peek fresh key = %+v, want allowed, remaining %d of %d, tier redis", r, capacity, capacity)
	}

	start := time.Now()
	for i := int64(1); i <= capacity; i++ {
		r, err := c.Allow(ctx, key, l)
		if err != nil {
			t.Fatalf("Allow %d: %v", i, err)
		}
		if !r.Allowed || r.Remaining != capacity-i || r.Limit != capacity || r.RetryAfter != 0 {
			t.Fatalf("Allow %d = %+v, want allowed, remaining %d, limit %d, no retry", i, r, capacity-i, capacity)
		}
		if r.ResetAfter <= 0 || r.ResetAfter > MaxResetAfter(l) {
			t.Errorf("Allow %d: ResetAfter %v, want in (0, %v]", i, r.ResetAfter, MaxResetAfter(l))
		}
		// A leaky bucket queues request i behind i-1 others, one emission
		// interval each, less the time that passed since the first.
		var want time.Duration
		if a == smartlimit.LeakyBucket {
			want = time.Duration(i-1) * interval
		}
		if elapsed := time.Since(start); r.Delay > want || r.Delay < want-elapsed {
			t.Errorf("Allow %d: Delay %v, want in [%v, %v]", i, r.Delay, want-elapsed, want)
		}
	}

	denied, err := c.Allow(ctx, key, l)
	if err != nil {
		t.Fatalf("Allow past capacity: %v", err)
	}
	if denied.Allowed || denied.Remaining != 0 || denied.RetryAfter <= 0 || denied.RetryAfter > MaxRetryAfter(l) {
		t.Fatalf("Allow past capacity = %+v, want denied, remaining 0, RetryAfter in (0, %v]", denied, MaxRetryAfter(l))
	}
	// A denial consumes nothing, and time only moves forward: asking again
	// is denied again, no later than the first answer said.
	again, err := c.Allow(ctx, key, l)
	if err != nil {
		t.Fatalf("Allow again: %v", err)
	}
	if again.Allowed || again.Remaining != 0 || again.RetryAfter <= 0 || again.RetryAfter > denied.RetryAfter {
		t.Errorf("Allow again = %+v, want denied, remaining 0, RetryAfter in (0, %v]", again, denied.RetryAfter)
	}
	if p, err := c.Peek(ctx, key, l); err != nil || p.Allowed || p.Remaining != 0 {
		t.Errorf("Peek after denial = %+v, %v; want not allowed, remaining 0", p, err)
	}
	never, err := c.AllowN(ctx, key, l, capacity+1)
	if err != nil || never.Allowed || never.RetryAfter != smartlimit.Never {
		t.Errorf("AllowN(%d) = %+v, %v; want denied with RetryAfter Never", capacity+1, never, err)
	}

	// The state has a TTL no longer than the time to be full again.
	rk, err := c.Key(key, l)
	if err != nil {
		t.Fatal(err)
	}
	rc := c.Redis()
	pttl, err := rc.Do(ctx, rc.B().Pttl().Key(rk).Build()).AsInt64()
	if err != nil {
		t.Fatalf("PTTL %s: %v", rk, err)
	}
	if maxMS := MaxResetAfter(l).Milliseconds() + 1; pttl <= 0 || pttl > maxMS {
		t.Errorf("PTTL %s = %d ms, want in (0, %d]", rk, pttl, maxMS)
	}

	if err := c.Reset(ctx, key, l); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if n, err := rc.Do(ctx, rc.B().Exists().Key(rk).Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("EXISTS %s after Reset = %d, %v; want 0", rk, n, err)
	}
	if r, err := c.Allow(ctx, key, l); err != nil || !r.Allowed || r.Remaining != capacity-1 {
		t.Errorf("Allow after Reset = %+v, %v; want allowed, remaining %d", r, err, capacity-1)
	}
}

// testRetryAfterIsHonest checks RetryAfter against Redis' own clock: after
// sleeping it, the denied request passes; after sleeping ResetAfter, the
// key is full.
func testRetryAfterIsHonest(t *testing.T, c *smartlimit.Client, a smartlimit.Algorithm) {
	ctx := context.Background()
	l := smartlimit.Limit{Algorithm: a, Rate: 4, Period: time.Second}
	if bucket(a) {
		l.Burst = 4
	}
	const key = "honest"
	var last smartlimit.Result
	for i := range l.Capacity() {
		r, err := c.Allow(ctx, key, l)
		if err != nil {
			t.Fatalf("Allow %d: %v", i+1, err)
		}
		if r.Allowed {
			last = r
		}
	}
	r, err := c.Allow(ctx, key, l)
	if err != nil {
		t.Fatalf("Allow past capacity: %v", err)
	}
	if r.Allowed {
		// The machine stalled for longer than an emission interval (or a
		// window ended) during the burst; nothing to learn from this run.
		t.Skipf("refilled during the burst (busy machine): %+v", r)
	}
	if r.RetryAfter <= 0 || r.RetryAfter > MaxRetryAfter(l) {
		t.Fatalf("denied: RetryAfter %v, want in (0, %v]", r.RetryAfter, MaxRetryAfter(l))
	}
	// Redis rounds nothing up here but TTLs: a millisecond covers the
	// microseconds between the script's TIME and the sleep's start.
	time.Sleep(r.RetryAfter + time.Millisecond)
	if r2, err := c.Allow(ctx, key, l); err != nil || !r2.Allowed {
		t.Fatalf("Allow after sleeping RetryAfter %v = %+v, %v; want allowed", r.RetryAfter, r2, err)
	}

	if err := c.Reset(ctx, key, l); err != nil {
		t.Fatal(err)
	}
	if last, err = c.AllowN(ctx, key, l, l.Capacity()); err != nil || !last.Allowed {
		t.Fatalf("AllowN(capacity) = %+v, %v", last, err)
	}
	time.Sleep(last.ResetAfter + time.Millisecond)
	if p, err := c.Peek(ctx, key, l); err != nil || p.Remaining != l.Capacity() {
		t.Errorf("Peek after sleeping ResetAfter %v = %+v, %v; want remaining %d", last.ResetAfter, p, err, l.Capacity())
	}
}

func testConcurrency(t *testing.T, c *smartlimit.Client) {
	ctx := context.Background()
	l := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: time.Hour}
	var leases []*smartlimit.Lease
	for i := int64(1); i <= 2; i++ {
		ls, r, err := c.Acquire(ctx, "jobs", l)
		if err != nil || !r.Allowed || ls == nil || r.Remaining != 2-i {
			t.Fatalf("Acquire %d = %v, %+v, %v; want a lease, remaining %d", i, ls, r, err, 2-i)
		}
		leases = append(leases, ls)
	}
	ls, r, err := c.Acquire(ctx, "jobs", l)
	if err != nil || r.Allowed || ls != nil || r.RetryAfter <= 0 || r.RetryAfter > l.Period {
		t.Fatalf("Acquire 3 = %v, %+v, %v; want no lease, RetryAfter in (0, %v]", ls, r, err, l.Period)
	}
	if err := leases[0].Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := leases[0].Release(ctx); err != nil {
		t.Errorf("second Release: %v, want nil", err)
	}
	if ls, r, err := c.Acquire(ctx, "jobs", l); err != nil || !r.Allowed || ls == nil {
		t.Fatalf("Acquire after Release = %v, %+v, %v; want a lease", ls, r, err)
	}

	// A lease nobody releases expires Period after it was taken.
	short := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: 200 * time.Millisecond}
	if _, r, err := c.Acquire(ctx, "short", short); err != nil || !r.Allowed {
		t.Fatalf("Acquire short = %+v, %v", r, err)
	}
	_, r, err = c.Acquire(ctx, "short", short)
	if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > short.Period {
		t.Fatalf("Acquire short again = %+v, %v; want denied, RetryAfter in (0, %v]", r, err, short.Period)
	}
	time.Sleep(r.RetryAfter + time.Millisecond)
	if _, r, err := c.Acquire(ctx, "short", short); err != nil || !r.Allowed {
		t.Errorf("Acquire after the lease expired = %+v, %v; want allowed", r, err)
	}
}

func testAllowAll(t *testing.T, c *smartlimit.Client) {
	ctx := context.Background()
	perHour := slowLimit(smartlimit.GCRA)
	perHour.Rate, perHour.Burst = 3, 3
	window := slowLimit(smartlimit.FixedWindow)
	AvoidWindowEdge(t, c, window, 5*time.Second)
	for i := int64(1); i <= 3; i++ {
		r, err := c.AllowAll(ctx, "both", 1, perHour, window)
		if err != nil || !r.Allowed || r.Remaining != 3-i {
			t.Fatalf("AllowAll %d = %+v, %v; want allowed, remaining %d", i, r, err, 3-i)
		}
	}
	r, err := c.AllowAll(ctx, "both", 1, perHour, window)
	if err != nil || r.Allowed || r.Limit != 3 || r.RetryAfter <= 0 {
		t.Fatalf("AllowAll 4 = %+v, %v; want denied by the 3/h limit", r, err)
	}
	// All or nothing: the window was not charged for the denied call.
	if p, err := c.Peek(ctx, "both", window); err != nil || p.Remaining != 2 {
		t.Errorf("Peek window = %+v, %v; want remaining 2", p, err)
	}
}

// testAllowManyOrder sends requests whose answers tell them apart (each
// limit has its own capacity, each cost differs) and checks each answer is
// in its request's place; a key asked twice is decided in order.
func testAllowManyOrder(t *testing.T, c *smartlimit.Client) {
	ctx := context.Background()
	const n = 40
	reqs := make([]smartlimit.Request, 0, n+2)
	for i := range int64(n) {
		l := smartlimit.Limit{Rate: 10 + i, Period: time.Hour, Burst: 10 + i}
		reqs = append(reqs, smartlimit.Request{Key: "many-" + strconv.FormatInt(i, 10), Limit: l, Cost: i % 3})
	}
	// The same key again, after its first request; and a cost that never fits.
	reqs = append(reqs, smartlimit.Request{Key: "many-5", Limit: reqs[5].Limit, Cost: 4})
	reqs = append(reqs, smartlimit.Request{Key: "many-6", Limit: reqs[6].Limit, Cost: 100})
	rs, err := c.AllowMany(ctx, reqs)
	if err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	if len(rs) != len(reqs) {
		t.Fatalf("AllowMany returned %d results for %d requests", len(rs), len(reqs))
	}
	for i := range n {
		capacity := int64(10 + i)
		if r := rs[i]; !r.Allowed || r.Limit != capacity || r.Remaining != capacity-int64(i%3) {
			t.Errorf("result %d = %+v, want allowed, limit %d, remaining %d", i, r, capacity, capacity-int64(i%3))
		}
	}
	if r := rs[n]; !r.Allowed || r.Remaining != 15-2-4 {
		t.Errorf("result %d (many-5 again) = %+v, want allowed, remaining %d", n, r, 15-2-4)
	}
	if r := rs[n+1]; r.Allowed || r.RetryAfter != smartlimit.Never || r.Remaining != 16 {
		t.Errorf("result %d (cost 100 of 16) = %+v, want denied, never, remaining 16", n+1, r)
	}
}
