package standalone

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// flood checks batches of 500 new keys under a sliding window (a sorted
// set a key, the most memory per key) until stop says enough or limit
// batches were sent, and returns the first error.
func flood(ctx context.Context, c *smartlimit.Client, batches int, stop func() bool) (int, error) {
	l := smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 10, Period: time.Hour}
	for b := range batches {
		if stop() {
			return b, nil
		}
		reqs := make([]smartlimit.Request, 500)
		for i := range reqs {
			reqs[i] = smartlimit.Request{Key: "flood-" + strconv.Itoa(b*len(reqs)+i), Limit: l, Cost: 3}
		}
		if _, err := c.AllowMany(ctx, reqs); err != nil {
			return b, err
		}
	}
	return batches, nil
}

// TestMaxmemoryEviction fills a Redis limited to 2 MB with an eviction
// policy until it evicts a key whose limit was used up: every check keeps
// working, and the evicted key starts again from a full limit. That is what
// eviction means for a limiter: a key that is evicted forgets what it
// counted. volatile-lru works as allkeys-lru does because every key the
// engine writes has a TTL.
func TestMaxmemoryEviction(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "volatile-lru"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			testEviction(t, policy)
		})
	}
}

func testEviction(t *testing.T, policy string) {
	ctx := context.Background()
	srv := redistest.Start(t, "--maxmemory", "2mb", "--maxmemory-policy", policy)
	rc := srv.Client(t)
	c := itest.NewClient(t, rc)
	l := smartlimit.Limit{Rate: 5, Period: time.Hour, Burst: 5}
	for range 5 {
		if r, err := c.Allow(ctx, "victim", l); err != nil || !r.Allowed {
			t.Fatalf("Allow victim = %+v, %v", r, err)
		}
	}
	if r, err := c.Allow(ctx, "victim", l); err != nil || r.Allowed {
		t.Fatalf("Allow victim past its limit = %+v, %v; want denied", r, err)
	}
	victim, err := c.Key("victim", l)
	if err != nil {
		t.Fatal(err)
	}

	gone := func() bool {
		n, err := rc.Do(ctx, rc.B().Exists().Key(victim).Build()).AsInt64()
		return err == nil && n == 0
	}
	batches, err := flood(ctx, c, 400, gone)
	if err != nil {
		t.Fatalf("a check failed under maxmemory with %s: %v", policy, err)
	}
	stats, err := itest.Info(ctx, rc, "stats")
	if err != nil {
		t.Fatal(err)
	}
	evicted := redistest.InfoField(stats, "evicted_keys")
	t.Logf("%d batches of 500 keys; evicted_keys=%s; victim evicted: %v", batches, evicted, gone())
	if !gone() {
		t.Fatalf("the victim key was never evicted (evicted_keys=%s)", evicted)
	}
	if r, err := c.Allow(ctx, "victim", l); err != nil || !r.Allowed || r.Remaining != 4 {
		t.Errorf("Allow victim after eviction = %+v, %v; want a fresh limit: allowed, remaining 4", r, err)
	}
}

// TestMaxmemoryNoeviction shows what happens without an eviction policy:
// once Redis is full it refuses the scripts, and the client reports a
// Redis OOM error (which a failover coordinator can act on) instead of a
// decision.
func TestMaxmemoryNoeviction(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
	c := itest.NewClient(t, srv.Client(t))
	_, err := flood(ctx, c, 400, func() bool { return false })
	if err == nil {
		t.Fatalf("400 batches of 500 keys fit in 2 MB with noeviction; want an OOM error")
	}
	var be *smartlimit.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("error %T %v, want a *smartlimit.BatchError", err, err)
	}
	for _, e := range be.Unwrap() {
		re, ok := rueidis.IsRedisErr(errors.Unwrap(e))
		if !ok || !strings.HasPrefix(re.Error(), "OOM") {
			t.Fatalf("item error %v, want a Redis OOM error", e)
		}
	}
	t.Logf("with noeviction: %v", err)
}
