package mongo_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/internal/redistest"
	"github.com/smartlimit/smartlimit/memfallback"
	"github.com/smartlimit/smartlimit/mongostore"
)

// TestFailoverRedisMongoMemory runs the chain the design names: a
// failover.Coordinator over Redis, the mongo tier and memory. With Redis
// killed, decisions move to mongo; with mongo cut off too, to memory. Each
// tier keeps its own counts, so each switch starts the key fresh.
func TestFailoverRedisMongoMemory(t *testing.T) {
	rs := redistest.Start(t)
	if !rs.Started() {
		t.Skipf("the test kills Redis, and the server named by %s is not its to kill", redistest.AddrEnv)
	}
	redis, err := smartlimit.New(rs.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t)
	if srv.proxy == nil {
		t.Skipf("the test cuts MongoDB off, and cannot for the server named by %s (several hosts or mongodb+srv)", URIEnv)
	}
	mongo, _ := newStore(t, srv, mongostore.Options{Clock: time.Now})
	mem, err := memfallback.New(memfallback.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	c, err := failover.New([]failover.Tier{
		// Deadlines for a busy test machine, not for production.
		{Name: smartlimit.TierRedis, Limiter: redis, Timeout: 500 * time.Millisecond},
		{Name: smartlimit.TierMongo, Limiter: mongo, Timeout: time.Second},
		{Name: smartlimit.TierMemory, Limiter: mem},
	}, failover.Options{HealthInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	l := smartlimit.PerMinute(100)
	check := func(stage, wantTier string, wantRemaining int64) {
		t.Helper()
		r, err := c.AllowN(ctx, "user:42", l, 1)
		if err != nil {
			t.Fatalf("%s: AllowN: %v", stage, err)
		}
		if r.Tier != wantTier || !r.Allowed || r.Remaining != wantRemaining {
			t.Fatalf("%s: AllowN = %+v, want allowed by %s with Remaining %d", stage, r, wantTier, wantRemaining)
		}
	}
	check("all up", smartlimit.TierRedis, 99)
	check("all up", smartlimit.TierRedis, 98)

	rs.Kill()
	check("redis killed", smartlimit.TierMongo, 99)
	check("redis killed", smartlimit.TierMongo, 98)
	if r, err := mongo.Peek(ctx, "user:42", l); err != nil || r.Remaining != 98 {
		t.Errorf("the mongo tier's own state = %+v, %v; want Remaining 98", r, err)
	}

	srv.Stop()
	check("redis killed, mongo cut off", smartlimit.TierMemory, 99)

	hs := c.Health(ctx)
	for i, want := range []bool{false, false, true} {
		if hs[i].Up != want {
			t.Errorf("Health()[%d] (%s) Up = %v, want %v (last error: %v)", i, hs[i].Name, hs[i].Up, want, hs[i].LastError)
		}
	}
}

// TestFailoverOnContention checks that ErrContention is a per-request error
// to the coordinator: the check is answered by the next tier, not failed,
// and the Mongo tier's breaker does not count it.
func TestFailoverOnContention(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	l := smartlimit.PerMinute(10)
	var races atomic.Int64
	races.Store(1 << 30)
	hot := interfering(t, other, c, mongostore.Options{MaxRetries: -1}, &races, func() { allowN(t, other, "k", l, 1) })
	mem, err := memfallback.New(memfallback.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	co, err := failover.New([]failover.Tier{
		{Name: smartlimit.TierMongo, Limiter: hot, Timeout: time.Second},
		{Name: smartlimit.TierMemory, Limiter: mem},
	}, failover.Options{HealthInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { co.Close() })
	r, err := co.AllowN(ctx, "k", l, 1)
	if err != nil || r.Tier != smartlimit.TierMemory || !r.Allowed {
		t.Fatalf("AllowN = %+v, %v; want allowed by memory after the mongo tier's ErrContention", r, err)
	}
	// One hot document is not an outage (the issue "Hold at the edges",
	// item 5): the tier's breaker stays closed and other keys stay there.
	if h := co.Health(ctx)[0]; h.Breaker != failover.Closed || h.LastError != nil {
		t.Errorf("mongo tier after ErrContention: %+v, want Closed with no error counted", h)
	}
	races.Store(0)
	if r, err := co.AllowN(ctx, "cold", l, 1); err != nil || r.Tier != smartlimit.TierMongo || !r.Allowed {
		t.Errorf("another key: %+v, %v; want allowed by mongo", r, err)
	}
}
