package smartlimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// newExampleClient returns a Client with opts on an in-process miniredis,
// stopped by the returned function. Real programs connect to their Redis
// instead.
func newExampleClient(opts ...smartlimit.Option) (*smartlimit.Client, func()) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	mr.SetTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true})
	if err != nil {
		panic(err)
	}
	lim, err := smartlimit.New(rc, opts...)
	if err != nil {
		panic(err)
	}
	return lim, func() { rc.Close(); mr.Close() }
}

func ExampleClient_Allow() {
	lim, stop := newExampleClient()
	defer stop()
	ctx := context.Background()

	limit := smartlimit.PerSecond(3) // GCRA, burst 3
	for range 4 {
		r, err := lim.Allow(ctx, "user:42", limit)
		if err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v remaining=%d retry-after=%v\n", r.Allowed, r.Remaining, r.RetryAfter)
	}
	// Output:
	// allowed=true remaining=2 retry-after=0s
	// allowed=true remaining=1 retry-after=0s
	// allowed=true remaining=0 retry-after=0s
	// allowed=false remaining=0 retry-after=333.334ms
}

func ExampleClient_AllowMany() {
	lim, stop := newExampleClient()
	defer stop()

	// One round trip for all of them, decided in order.
	limit := smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1, Period: time.Minute}
	rs, err := lim.AllowMany(context.Background(), []smartlimit.Request{
		{Key: "alice", Limit: limit, Cost: 1},
		{Key: "bob", Limit: limit, Cost: 1},
		{Key: "alice", Limit: limit, Cost: 1},
	})
	if err != nil {
		panic(err)
	}
	for _, r := range rs {
		fmt.Println(r.Allowed, r.RetryAfter)
	}
	// Output:
	// true 0s
	// true 0s
	// false 1m0s
}

func ExampleClient_AllowAll() {
	lim, stop := newExampleClient()
	defer stop()
	ctx := context.Background()

	// 2 per second and 3 per day: when either denies, neither is charged.
	perSecond, perDay := smartlimit.PerSecond(2), smartlimit.PerDay(3)
	for range 4 {
		r, err := lim.AllowAll(ctx, "api-key-7", 1, perSecond, perDay)
		if err != nil {
			panic(err)
		}
		fmt.Printf("allowed=%v limit=%d remaining=%d\n", r.Allowed, r.Limit, r.Remaining)
	}
	// Output:
	// allowed=true limit=2 remaining=1
	// allowed=true limit=2 remaining=0
	// allowed=false limit=2 remaining=0
	// allowed=false limit=2 remaining=0
}

func ExampleClient_Acquire() {
	lim, stop := newExampleClient()
	defer stop()
	ctx := context.Background()

	// At most 1 export in flight per tenant; a lease lives at most a minute.
	limit := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: time.Minute}
	lease, r, err := lim.Acquire(ctx, "tenant-9", limit)
	if err != nil {
		panic(err)
	}
	_, second, _ := lim.Acquire(ctx, "tenant-9", limit)
	fmt.Println(r.Allowed, second.Allowed)

	lease.Release(ctx)
	_, third, _ := lim.Acquire(ctx, "tenant-9", limit)
	fmt.Println(third.Allowed)
	// Output:
	// true false
	// true
}

func ExampleClient_ReleaseLease() {
	lim, stop := newExampleClient()
	defer stop()
	ctx := context.Background()

	// A worker took a lease and logged its ID, then died; an operator gives
	// the slot back by that ID rather than wait for the lease to expire.
	limit := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: time.Hour}
	lease, _, err := lim.Acquire(ctx, "tenant-9", limit)
	if err != nil {
		panic(err)
	}
	held, err := lim.ReleaseLease(ctx, "tenant-9", limit, lease.ID)
	fmt.Println(held, err)
	held, err = lim.ReleaseLease(ctx, "tenant-9", limit, lease.ID)
	fmt.Println(held, err)
	// Output:
	// true <nil>
	// false <nil>
}

func ExampleParseLimit() {
	for _, s := range []string{"10/s", "100/m fixed_window", "5000/1h burst=500", "3/250ms"} {
		l, err := smartlimit.ParseLimit(s)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-20q %v\n", s, l)
	}
	_, err := smartlimit.ParseLimit("10 per second")
	fmt.Println(err)
	// Output:
	// "10/s"               10/1s
	// "100/m fixed_window" 100/1m0s fixed_window
	// "5000/1h burst=500"  5000/1h0m0s burst=500
	// "3/250ms"            3/250ms
	// smartlimit: invalid limits "10 per second": want RATE/PERIOD, like "10/s"
}

// Concurrent checks share script calls, in batches of up to 50 here; each
// is still decided on its own, so exactly the burst passes. (Coalescing is
// on by default for a standalone Redis or Sentinel; the option sets the
// batch size, and turns it on for a Cluster, as rueidis takes miniredis for.)
func ExampleWithCoalescing() {
	lim, stop := newExampleClient(smartlimit.WithCoalescing(50))
	defer stop()
	ctx := context.Background()

	limit := smartlimit.PerSecond(5)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r, err := lim.Allow(ctx, "user:42", limit)
			if err != nil {
				panic(err)
			}
			if r.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Println("allowed:", allowed.Load())
	// Output: allowed: 5
}
