// Package standalone tests the engine on one real redis-server: every
// algorithm, a hot key shared by two clients, a server killed and restarted
// under load, a least-privilege ACL user, and eviction under maxmemory.
package standalone

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

func TestMain(m *testing.M) {
	os.Exit(itest.Main(m, nil))
}

func TestConformance(t *testing.T) {
	rc := redistest.Start(t).Client(t)
	itest.Conformance(t, func(t *testing.T) *smartlimit.Client { return itest.NewClient(t, rc) })
}

// TestSuite runs the conformance suite every tier passes on the scripts in
// this server, through a client clock; see itest.Suite.
func TestSuite(t *testing.T) {
	itest.Suite(t, redistest.Start(t).Client(t))
}

func TestHotKey(t *testing.T) {
	srv := redistest.Start(t)
	rc1, rc2 := srv.Client(t), srv.Client(t)
	for _, a := range []smartlimit.Algorithm{smartlimit.GCRA, smartlimit.TokenBucket} {
		t.Run(a.String(), func(t *testing.T) {
			t.Parallel()
			itest.HotKey(t, rc1, rc2, a, 3*time.Second)
		})
	}
}

func TestScriptsLoaded(t *testing.T) {
	ctx := context.Background()
	rc := redistest.Start(t).Client(t)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	missing, err := smartlimit.MissingScripts(ctx, rc)
	if err != nil || len(missing) != 0 {
		t.Fatalf("MissingScripts after LoadScripts = %v, %v; want none", missing, err)
	}
}

func TestLeastPrivilege(t *testing.T) {
	srv := redistest.Start(t)
	itest.LeastPrivilege(t, srv.Client(t), srv.Option(), itest.ACLCommands)
}

// TestAllowManyOneRoundTrip shows that a batch on a standalone server is
// one socket write carrying one script call.
func TestAllowManyOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	var writes itest.WriteCounter
	opt := srv.Option()
	opt.DialCtxFn = writes.Dial
	rc := redistest.NewClient(t, opt)
	c := itest.NewClient(t, rc)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	reqs := make([]smartlimit.Request, 100)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "batch-" + strconv.Itoa(i), Limit: smartlimit.PerMinute(10), Cost: 1}
	}
	callsBefore, err := itest.CommandCalls(ctx, rc, "evalsha")
	if err != nil {
		t.Fatal(err)
	}
	writesBefore := writes.Snapshot()[srv.Addr]
	if _, err := c.AllowMany(ctx, reqs); err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	trips := writes.Snapshot()[srv.Addr] - writesBefore
	callsAfter, err := itest.CommandCalls(ctx, rc, "evalsha")
	if err != nil {
		t.Fatal(err)
	}
	if calls := callsAfter - callsBefore; trips != 1 || calls != 1 {
		t.Errorf("AllowMany of %d keys: %d writes with script calls, %d EVALSHA calls; want 1 and 1", len(reqs), trips, calls)
	}
}
