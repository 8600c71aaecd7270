// Package cluster tests the engine on a real 3-primary Redis Cluster, one
// for the whole package: every algorithm, a hot key, batches spread over
// every node, scripts on every node, and SCRIPT FLUSH under traffic.
package cluster

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

var cluster = redistest.ClusterOnce{Primaries: 3}

func TestMain(m *testing.M) {
	os.Exit(itest.Main(m, cluster.Close))
}

func TestConformance(t *testing.T) {
	rc := cluster.Get(t).Client(t)
	itest.Conformance(t, func(t *testing.T) *smartlimit.Client { return itest.NewClient(t, rc) })
}

// TestSuite runs the conformance suite every tier passes on the scripts in
// this server, through a client clock; see itest.Suite.
func TestSuite(t *testing.T) {
	itest.Suite(t, cluster.Get(t).Client(t))
}

func TestHotKey(t *testing.T) {
	cl := cluster.Get(t)
	rc1, rc2 := cl.Client(t), cl.Client(t)
	itest.HotKey(t, rc1, rc2, smartlimit.GCRA, 3*time.Second)
}

func TestScriptsOnEveryNode(t *testing.T) {
	ctx := context.Background()
	cl := cluster.Get(t)
	rc := cl.Client(t)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	missing, err := smartlimit.MissingScripts(ctx, rc)
	if err != nil || len(missing) != 0 {
		t.Fatalf("MissingScripts after LoadScripts = %v, %v; want none", missing, err)
	}
	// MissingScripts asks every node: the cluster's primaries, all of them.
	nodes := slices.Sorted(maps.Keys(rc.Nodes()))
	if want := len(cl.Addrs); cl.Started() && len(nodes) != want {
		t.Fatalf("client sees nodes %v, want %d", nodes, want)
	}
	shas := make([]string, 0, len(smartlimit.Scripts()))
	for _, s := range smartlimit.Scripts() {
		shas = append(shas, s.SHA1)
	}
	for _, addr := range nodes {
		node := rc.Nodes()[addr]
		found, err := node.Do(ctx, node.B().ScriptExists().Sha1(shas...).Build()).AsIntSlice()
		if err != nil {
			t.Fatalf("SCRIPT EXISTS on %s: %v", addr, err)
		}
		for i, ok := range found {
			if ok != 1 {
				t.Errorf("script %s missing on %s", smartlimit.Scripts()[i].Name, addr)
			}
		}
	}
}

// TestAllowManyOneRoundTripPerNode spreads a batch over every primary and
// shows that each node got the batch's script calls in one socket write,
// one EVALSHA per hash slot, and that the results come back in request
// order.
func TestAllowManyOneRoundTripPerNode(t *testing.T) {
	ctx := context.Background()
	cl := cluster.Get(t)
	var writes itest.WriteCounter
	opt := cl.Option()
	opt.DialCtxFn = writes.Dial
	rc := redistest.NewClient(t, opt)
	c := itest.NewClient(t, rc)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil { // no NOSCRIPT round trip below
		t.Fatalf("LoadScripts: %v", err)
	}
	owners, err := itest.SlotOwners(ctx, rc)
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}

	const n = 60
	reqs := make([]smartlimit.Request, n)
	slotsOf := map[string]map[uint16]bool{} // node → slots the batch touches there
	for i := range reqs {
		key := "spread-" + strconv.Itoa(i)
		capacity := int64(10 + i)
		reqs[i] = smartlimit.Request{Key: key, Limit: smartlimit.Limit{Rate: capacity, Period: time.Hour, Burst: capacity}, Cost: int64(1 + i%3)}
		slot := smartlimit.Slot(key)
		if slotsOf[owners[slot]] == nil {
			slotsOf[owners[slot]] = map[uint16]bool{}
		}
		slotsOf[owners[slot]][slot] = true
	}
	if len(slotsOf) != len(rc.Nodes()) {
		t.Fatalf("the batch's keys reach %d nodes, want all %d", len(slotsOf), len(rc.Nodes()))
	}

	callsBefore := map[string]int64{}
	for addr, node := range rc.Nodes() {
		if callsBefore[addr], err = itest.CommandCalls(ctx, node, "evalsha"); err != nil {
			t.Fatal(err)
		}
	}
	writesBefore := writes.Snapshot()
	rs, err := c.AllowMany(ctx, reqs)
	if err != nil {
		t.Fatalf("AllowMany: %v", err)
	}
	writesAfter := writes.Snapshot()

	for i, r := range rs {
		capacity, cost := int64(10+i), int64(1+i%3)
		if !r.Allowed || r.Limit != capacity || r.Remaining != capacity-cost {
			t.Errorf("result %d = %+v, want allowed, limit %d, remaining %d", i, r, capacity, capacity-cost)
		}
	}
	for addr, node := range rc.Nodes() {
		after, err := itest.CommandCalls(ctx, node, "evalsha")
		if err != nil {
			t.Fatal(err)
		}
		// INFO itself runs after the batch, so its own call does not count.
		calls, trips := after-callsBefore[addr], writesAfter[addr]-writesBefore[addr]
		t.Logf("node %s: keys in %d slots → %d EVALSHA calls in %d round trip(s)", addr, len(slotsOf[addr]), calls, trips)
		if trips != 1 {
			t.Errorf("node %s: %d writes with script calls, want 1 round trip", addr, trips)
		}
		if want := int64(len(slotsOf[addr])); calls != want {
			t.Errorf("node %s: %d EVALSHA calls, want %d (one per slot)", addr, calls, want)
		}
	}
}

// TestScriptFlushUnderTraffic flushes the script cache of one node, then
// another, while goroutines check limits singly and in batches: every check
// must succeed, recovering from NOSCRIPT without the caller seeing it.
func TestScriptFlushUnderTraffic(t *testing.T) {
	ctx := context.Background()
	cl := cluster.Get(t)
	rc := cl.Client(t)
	c := itest.NewClient(t, rc)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	nodes := slices.Sorted(maps.Keys(rc.Nodes()))
	noscript := map[string]int64{}
	for _, addr := range nodes {
		n, err := itest.ErrorCount(ctx, rc.Nodes()[addr], "NOSCRIPT")
		if err != nil {
			t.Fatal(err)
		}
		noscript[addr] = n
	}

	limits := []smartlimit.Limit{
		{Rate: 1000, Period: time.Second},
		{Algorithm: smartlimit.SlidingWindow, Rate: 50, Period: time.Second},
	}
	var checks, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%4 == 3 {
					reqs := make([]smartlimit.Request, 12)
					for j := range reqs {
						// Each key under both limits: a slot's call
						// mixes algorithms, so it runs in "multi".
						reqs[j] = smartlimit.Request{Key: "flush-" + strconv.Itoa((i+j/2)%97), Limit: limits[j%2], Cost: 1}
					}
					_, err = c.AllowMany(ctx, reqs)
					checks.Add(int64(len(reqs)))
				} else {
					_, err = c.Allow(ctx, "flush-"+strconv.Itoa((g*31+i)%97), limits[i%2])
					checks.Add(1)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	flushed := nodes[:min(2, len(nodes))]
	for _, addr := range flushed {
		time.Sleep(300 * time.Millisecond)
		node := rc.Nodes()[addr]
		if err := node.Do(ctx, node.B().ScriptFlush().Build()).Error(); err != nil {
			t.Errorf("SCRIPT FLUSH on %s: %v", addr, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("%d checks, %d failed, SCRIPT FLUSH on %v", checks.Load(), failed.Load(), flushed)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d checks failed, first: %v", n, firstErr.Load())
	}
	// The flush did bite: the node answered NOSCRIPT, and the client loaded
	// the scripts it needed there again.
	for _, addr := range flushed {
		node := rc.Nodes()[addr]
		n, err := itest.ErrorCount(ctx, node, "NOSCRIPT")
		if err != nil {
			t.Fatal(err)
		}
		if n <= noscript[addr] {
			t.Errorf("node %s answered no NOSCRIPT after SCRIPT FLUSH", addr)
		}
		missing, err := smartlimit.MissingScripts(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range missing[addr] {
			if name == "gcra" || name == "sliding_window" || name == "multi" {
				t.Errorf("script %s still missing on %s after traffic", name, addr)
			}
		}
	}
}

func TestLeastPrivilege(t *testing.T) {
	cl := cluster.Get(t)
	itest.LeastPrivilege(t, cl.Client(t), cl.Option(), slices.Concat(itest.ACLCommands, itest.ACLClusterCommands))
}

// TestAllowManyNodeDown kills one primary of a cluster of its own and sends
// a batch over all three: the items on the live nodes are decided, the
// items on the dead node fail with transport errors in a *BatchError, and
// the call returns within its deadline.
func TestAllowManyNodeDown(t *testing.T) {
	if os.Getenv(redistest.ClusterAddrsEnv) != "" {
		t.Skipf("%s names a cluster this test cannot kill a node of", redistest.ClusterAddrsEnv)
	}
	// Without full coverage required, the live nodes keep serving their
	// slots once the others mark the dead one failed (after the node
	// timeout, made long here so that a slow run sees the same).
	cl := redistest.StartCluster(t, 3, "--cluster-require-full-coverage", "no", "--cluster-node-timeout", "30000")
	rc := cl.Client(t)
	c := itest.NewClient(t, rc)
	ctx := context.Background()
	if v, err := rc.Do(ctx, rc.B().ConfigGet().Parameter("cluster-node-timeout").Build()).AsStrMap(); err != nil || v["cluster-node-timeout"] != "30000" {
		t.Fatalf("CONFIG GET cluster-node-timeout = %v, %v; want 30000", v, err)
	}
	owners, err := itest.SlotOwners(ctx, rc)
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	reqs := make([]smartlimit.Request, 30)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "down-" + strconv.Itoa(i), Limit: smartlimit.PerMinute(int64(10 + i)), Cost: 1}
	}
	if _, err := c.AllowMany(ctx, reqs); err != nil { // connect to every node first
		t.Fatalf("AllowMany with every node up: %v", err)
	}
	dead := cl.Nodes[2]
	dead.Kill()

	const deadline = 2 * time.Second
	cctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	rs, err := c.AllowMany(cctx, reqs)
	took := time.Since(start)
	var be *smartlimit.BatchError
	if !errors.As(err, &be) || len(be.Errs) != len(reqs) {
		t.Fatalf("AllowMany with a node down: %T %v; want a *smartlimit.BatchError of %d items", err, err, len(reqs))
	}
	var live, down int
	for i, r := range rs {
		onDead := owners[smartlimit.Slot(reqs[i].Key)] == dead.Addr
		switch {
		case onDead && !itest.TransportError(be.Errs[i]):
			t.Errorf("item %d on the dead node: error %v, want a transport error", i, be.Errs[i])
		case onDead:
			down++
		case be.Errs[i] != nil:
			t.Errorf("item %d on a live node failed: %v", i, be.Errs[i])
		case !r.Allowed || r.Limit != int64(10+i) || r.Remaining != int64(10+i-2):
			t.Errorf("item %d on a live node = %+v, want allowed, limit %d, remaining %d", i, r, 10+i, 10+i-2)
		default:
			live++
		}
	}
	t.Logf("node %s down: %d items decided, %d failed, in %v; %v", dead.Addr, live, down, took, err)
	if live == 0 || down == 0 {
		t.Errorf("want items on both live and dead nodes, got %d and %d", live, down)
	}
	if took > deadline+time.Second {
		t.Errorf("AllowMany took %v with a %v deadline", took, deadline)
	}
}
