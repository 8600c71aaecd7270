package mongo_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/memfallback"
	"github.com/smartlimit/smartlimit/mongostore"
)

// diffLimits are every algorithm, at rates whose emission interval is not a
// whole number of µs, with bursts that differ from the rate, and 10/s and
// 20/2s, which share one document as they share one Redis key.
var diffLimits = []smartlimit.Limit{
	{Algorithm: smartlimit.GCRA, Rate: 10, Period: time.Second},
	{Algorithm: smartlimit.GCRA, Rate: 20, Period: 2 * time.Second, Burst: 10},
	{Algorithm: smartlimit.GCRA, Rate: 7, Period: time.Second, Burst: 3},
	{Algorithm: smartlimit.TokenBucket, Rate: 6, Period: time.Second},
	{Algorithm: smartlimit.LeakyBucket, Rate: 7, Period: time.Second, Burst: 2},
	{Algorithm: smartlimit.FixedWindow, Rate: 5, Period: 7 * time.Second},
	{Algorithm: smartlimit.SlidingWindow, Rate: 7, Period: time.Second},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 7, Period: time.Second},
	{Algorithm: smartlimit.Concurrency, Rate: 3, Period: time.Second},
}

// TestDifferentialMemory feeds one random sequence of checks to the mongo
// tier and to memfallback and demands identical Results but for Tier:
// both run internal/algo, so any difference is a bug in how the mongo tier
// stores or replays state. The seed is printed; set SMARTLIMIT_SEED to
// replay one.
func TestDifferentialMemory(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SMARTLIMIT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (SMARTLIMIT_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	srv := startServer(t)
	ms, c := newStore(t, srv, mongostore.Options{})
	mem, err := memfallback.New(memfallback.Options{Clock: c.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })

	same := func(i int, call string, a, b smartlimit.Result, aerr, berr error) {
		t.Helper()
		a.Tier, b.Tier = "", ""
		if fmt.Sprint(aerr) != fmt.Sprint(berr) || a != b {
			t.Fatalf("op %d at T0+%v: %s:\n\tmongo:  %+v %v\n\tmemory: %+v %v\n(seed %d)", i, c.Now().Sub(limitertest.T0), call, a, aerr, b, berr, seed)
		}
	}
	pick := func() smartlimit.Limit { return diffLimits[rng.IntN(len(diffLimits))] }
	for i := range 150 {
		c.Advance(time.Duration(rng.IntN(300_000)) * time.Microsecond)
		key := []string{"a", "b"}[rng.IntN(2)]
		l := pick()
		cost := int64(rng.IntN(4))
		if l.Algorithm == smartlimit.Concurrency {
			cost = int64(rng.IntN(2))
		}
		switch op := rng.IntN(10); {
		case op < 5:
			a, aerr := ms.AllowN(ctx, key, l, cost)
			b, berr := mem.AllowN(ctx, key, l, cost)
			same(i, fmt.Sprintf("AllowN(%s, %v, %d)", key, l, cost), a, b, aerr, berr)
		case op < 7:
			a, aerr := ms.Peek(ctx, key, l)
			b, berr := mem.Peek(ctx, key, l)
			same(i, fmt.Sprintf("Peek(%s, %v)", key, l), a, b, aerr, berr)
		case op < 8:
			l2 := pick()
			if l.Algorithm == smartlimit.Concurrency || l2.Algorithm == smartlimit.Concurrency || l2 == l {
				continue
			}
			a, aerr := ms.AllowAll(ctx, key, cost, l, l2)
			b, berr := mem.AllowAll(ctx, key, cost, l, l2)
			same(i, fmt.Sprintf("AllowAll(%s, %d, %v, %v)", key, cost, l, l2), a, b, aerr, berr)
		case op < 9:
			reqs := make([]smartlimit.Request, 2+rng.IntN(4))
			for j := range reqs {
				r := smartlimit.Request{Key: []string{"a", "b"}[rng.IntN(2)], Limit: pick(), Cost: int64(rng.IntN(3))}
				if r.Limit.Algorithm == smartlimit.Concurrency {
					r.Cost = min(r.Cost, 1)
				}
				reqs[j] = r
			}
			as, aerr := ms.AllowMany(ctx, reqs)
			bs, berr := mem.AllowMany(ctx, reqs)
			if len(as) != len(bs) {
				t.Fatalf("op %d: AllowMany(%+v): %d results from mongo, %d from memory", i, reqs, len(as), len(bs))
			}
			for j := range as {
				same(i, fmt.Sprintf("AllowMany(%+v)[%d]", reqs, j), as[j], bs[j], aerr, berr)
			}
		default:
			aerr, berr := ms.Reset(ctx, key, l), mem.Reset(ctx, key, l)
			same(i, fmt.Sprintf("Reset(%s, %v)", key, l), smartlimit.Result{}, smartlimit.Result{}, aerr, berr)
		}
	}
}
