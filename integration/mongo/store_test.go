package mongo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/mongostore"
)

var ctx = context.Background()

func allowN(tb testing.TB, l smartlimit.Limiter, key string, lim smartlimit.Limit, n int64) smartlimit.Result {
	tb.Helper()
	r, err := l.AllowN(ctx, key, lim, n)
	if err != nil {
		tb.Fatalf("AllowN(%q, %v, %d): %v", key, lim, n, err)
	}
	return r
}

// TestDocumentShape checks what a check stores: an _id shaped like the
// Redis key, a version that grows with each write, the algorithm's state
// and expireAt = now + ResetAfter; denials and cost-0 checks write nothing.
func TestDocumentShape(t *testing.T) {
	srv := startServer(t)
	st, c := newStore(t, srv, mongostore.Options{})
	coll := st.Collection()
	l := smartlimit.PerSecond(10) // gcd(1e6, 10): P = 100000, R = 1

	r := allowN(t, st, "alice", l, 3)
	if got, want := r.Tier, smartlimit.TierMongo; got != want {
		t.Errorf("Tier = %q, want %q", got, want)
	}
	const id = "{alice}:gcra:1:100000:10:v2"
	m := rawDoc(t, coll, id)
	if got, want := m["v"], int64(1); got != want {
		t.Errorf("v = %v (%T), want %v", got, got, want)
	}
	// TAT = T0 + 300 ms: A holds it in µs.
	if got, want := m["a"], limitertest.T0.Add(300*time.Millisecond).UnixMicro(); got != want {
		t.Errorf("a = %v, want %v", got, want)
	}
	exp, ok := m["expireAt"].(bson.DateTime)
	if !ok {
		t.Fatalf("expireAt = %T %v, want a date", m["expireAt"], m["expireAt"])
	}
	if got, want := exp.Time(), limitertest.T0.Add(r.ResetAfter); !got.Equal(want) {
		t.Errorf("expireAt = %v, want now + ResetAfter = %v", got, want)
	}

	c.Advance(10 * time.Millisecond)
	allowN(t, st, "alice", l, 1)
	if got, want := rawDoc(t, coll, id)["v"], int64(2); got != want {
		t.Errorf("after a second write v = %v, want %v", got, want)
	}
	allowN(t, st, "alice", l, 0)
	if r := allowN(t, st, "alice", l, 20); r.Allowed {
		t.Fatal("cost 20 over burst 10 allowed")
	}
	if _, err := st.Peek(ctx, "alice", l); err != nil {
		t.Fatal(err)
	}
	if got, want := rawDoc(t, coll, id)["v"], int64(2); got != want {
		t.Errorf("after cost 0, a denial and a Peek v = %v, want %v (they must not write)", got, want)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("documents = %d, %v; want 1 (a denial or a peek of a new key stores nothing)", n, err)
	}

	// A sliding window stores its log, one entry per accepted request (its
	// instant in t, the units accepted before it in u, its cost in n); a
	// concurrency limit its leases.
	sw := smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 5, Period: time.Second}
	allowN(t, st, "bob", sw, 2)
	allowN(t, st, "bob", sw, 1)
	swDoc := rawDoc(t, coll, "{bob}:sliding_window:5:1000000:5:v2")
	if got := asArray(t, swDoc["t"]); len(got) != 2 {
		t.Errorf("sliding window log t = %v, want 2 entries", got)
	}
	if got := asArray(t, swDoc["u"]); len(got) != 2 || fmt.Sprint(got) != "[0 2]" {
		t.Errorf("sliding window log u = %v, want [0 2]", got)
	}
	if got := asArray(t, swDoc["n"]); fmt.Sprint(got) != "[2 1]" {
		t.Errorf("sliding window log n = %v, want [2 1]", got)
	}
	cc := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 3, Period: time.Minute}
	lease, _, err := st.Acquire(ctx, "bob", cc)
	if err != nil || lease == nil {
		t.Fatalf("Acquire = %v, %v", lease, err)
	}
	cid := "{bob}:concurrency:3:60000000:3:v2"
	if ids := asArray(t, rawDoc(t, coll, cid)["ids"]); len(ids) != 1 || ids[0] != lease.ID {
		t.Errorf("leases ids = %v, want [%s]", ids, lease.ID)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := asArray(t, rawDoc(t, coll, cid)["ids"]); len(ids) != 0 {
		t.Errorf("after Release ids = %v, want none", ids)
	}
}

func asArray(tb testing.TB, v any) bson.A {
	tb.Helper()
	a, ok := v.(bson.A)
	if !ok {
		tb.Fatalf("%v (%T) is not an array", v, v)
	}
	return a
}

// interfering returns a Store on coll whose clock, read between a check's
// read and its write, first lets other write the same document n times:
// a race lost, deterministically and one writer at a time, so that it
// runs on FerretDB too.
func interfering(t *testing.T, st *mongostore.Store, c *clock, opts mongostore.Options, n *atomic.Int64, write func()) *mongostore.Store {
	t.Helper()
	opts.Clock = func() time.Time {
		if n.Add(-1) >= 0 {
			write()
		}
		return c.Now()
	}
	s, err := mongostore.New(st.Collection(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLostRaceIsDecidedAgain checks the conditional write: a document
// written by someone else between a check's read and its write makes the
// write fail (as a duplicate key when the document was new, as a version
// mismatch otherwise), and the check is decided again on the new state;
// after MaxRetries it gives up with ErrContention having consumed nothing.
func TestLostRaceIsDecidedAgain(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	l := smartlimit.PerMinute(10)
	var races atomic.Int64
	st := interfering(t, other, c, mongostore.Options{}, &races, func() { allowN(t, other, "k", l, 1) })

	races.Store(1) // the other writer inserts the document first
	if r := allowN(t, st, "k", l, 1); !r.Allowed || r.Remaining != 8 {
		t.Fatalf("after losing the insert race: %+v, want allowed with Remaining 8 (decided on the other's state)", r)
	}
	races.Store(1) // and now updates it first
	if r := allowN(t, st, "k", l, 1); !r.Allowed || r.Remaining != 6 {
		t.Fatalf("after losing the update race: %+v, want allowed with Remaining 6", r)
	}
	if got, want := st.Stats(), (mongostore.Stats{Conflicts: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got := other.Stats(); got != (mongostore.Stats{}) {
		t.Errorf("the winner's Stats = %+v, want none", got)
	}

	// Two retries, three races lost: ErrContention, and only the other
	// writer's three units were consumed.
	var always atomic.Int64
	always.Store(1 << 30)
	loser := interfering(t, other, c, mongostore.Options{MaxRetries: 2, RetryBackoff: time.Microsecond}, &always, func() { allowN(t, other, "k", l, 1) })
	_, err := loser.AllowN(ctx, "k", l, 1)
	if !errors.Is(err, mongostore.ErrContention) {
		t.Fatalf("AllowN under endless contention = %v, want ErrContention", err)
	}
	if got, want := loser.Stats(), (mongostore.Stats{Conflicts: 3, Contention: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	always.Store(0)
	if r, err := other.Peek(ctx, "k", l); err != nil || r.Remaining != 3 {
		t.Errorf("Peek = %+v, %v; want Remaining 3 (6 - the other's 3; the loser consumed nothing)", r, err)
	}
}

// TestStaleWriteAfterResetLoses is the issue "Hold at the edges", item 8:
// writes were conditional on {_id, v} and a document re-created after a
// delete restarts at v=1, so a check that read the old document before a
// Reset overwrote the new one and let extra requests pass. Here the old
// document (v=1, 1 of 3 used) is read, then Reset, then re-created at v=1
// by a request of cost 3; the stale check's write must lose and be decided
// again on the new document, so that exactly 3 units pass after the Reset.
func TestStaleWriteAfterResetLoses(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	l := smartlimit.PerHour(3)
	allowN(t, other, "k", l, 1) // the old document
	var races atomic.Int64
	st := interfering(t, other, c, mongostore.Options{}, &races, func() {
		if err := other.Reset(ctx, "k", l); err != nil {
			t.Error(err)
		}
		if r := allowN(t, other, "k", l, 3); !r.Allowed {
			t.Errorf("re-creating the document after Reset: %+v, want allowed", r)
		}
	})
	races.Store(1)
	admitted := int64(3) // the new document's request
	if r := allowN(t, st, "k", l, 1); r.Allowed {
		admitted++ // the stale check
	}
	for range 5 {
		if r := allowN(t, other, "k", l, 1); r.Allowed {
			admitted++
		}
	}
	if admitted != 3 {
		t.Errorf("%d units passed after the Reset, want exactly 3 (the limit)", admitted)
	}
	if got, want := st.Stats().Conflicts, int64(1); got != want {
		t.Errorf("stale check's Conflicts = %d, want %d: its write must lose to the re-created document", got, want)
	}
}

// TestAllowManyBatch checks a batch of several keys, with repeats decided
// in request order on one document, and one document lost to another
// writer and decided again alone.
func TestAllowManyBatch(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	l := smartlimit.PerMinute(10)
	var races atomic.Int64
	st := interfering(t, other, c, mongostore.Options{}, &races, func() { allowN(t, other, "b", l, 4) })
	races.Store(1)
	reqs := []smartlimit.Request{
		{Key: "a", Limit: l, Cost: 1}, {Key: "b", Limit: l, Cost: 1}, {Key: "a", Limit: l, Cost: 1},
		{Key: "c", Limit: l, Cost: 2}, {Key: "a", Limit: l, Cost: 9}, {Key: "c", Limit: l, Cost: 0},
	}
	rs, err := st.AllowMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		allowed   bool
		remaining int64
	}{{true, 9}, {true, 5}, {true, 8}, {true, 8}, {false, 8}, {true, 8}}
	for i, r := range rs {
		if r.Allowed != want[i].allowed || r.Remaining != want[i].remaining || r.Tier != smartlimit.TierMongo {
			t.Errorf("result %d (%+v) = %+v, want Allowed %v Remaining %d", i, reqs[i], r, want[i].allowed, want[i].remaining)
		}
	}
	want1 := int64(1) // b lost once
	if srv.Ferret {
		// FerretDB v1 stops even an unordered bulk write at its first
		// error, so c (after b) was not written either, and was decided
		// again like a lost race.
		want1 = 2
	}
	if got := st.Stats().Conflicts; got != want1 {
		t.Errorf("Conflicts = %d, want %d", got, want1)
	}
	for key, want := range map[string]int64{"a": 8, "b": 5, "c": 8} {
		if r, err := st.Peek(ctx, key, l); err != nil || r.Remaining != want {
			t.Errorf("Peek(%s) = %+v, %v; want Remaining %d", key, r, err, want)
		}
	}
}

// TestAllowAllTakesBack checks AllowAll's all-or-nothing without
// transactions: when one limit's write loses a race, the limits already
// written are restored, and the call decided again charges each once.
func TestAllowAllTakesBack(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	sec, day := smartlimit.PerSecond(10), smartlimit.PerDay(1000)
	var races atomic.Int64
	st := interfering(t, other, c, mongostore.Options{}, &races, func() { allowN(t, other, "k", day, 5) })
	allowN(t, other, "k", sec, 1) // sec exists (an update), day is new (an insert)
	races.Store(1)
	r, err := st.AllowAll(ctx, "k", 2, sec, day)
	if err != nil || !r.Allowed {
		t.Fatalf("AllowAll = %+v, %v; want allowed", r, err)
	}
	if got, want := st.Stats(), (mongostore.Stats{Conflicts: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	for _, x := range []struct {
		l    smartlimit.Limit
		want int64
	}{{sec, 7}, {day, 993}} {
		if r, err := other.Peek(ctx, "k", x.l); err != nil || r.Remaining != x.want {
			t.Errorf("Peek(%v) = %+v, %v; want Remaining %d (charged once, not once per attempt)", x.l, r, err, x.want)
		}
	}
}

// TestEnsureIndexesAndCleanup checks the TTL index (or, on a server that
// refuses one, a logged warning and a plain index) and Cleanup's deletion
// of expired documents.
func TestEnsureIndexesAndCleanup(t *testing.T) {
	srv := startServer(t)
	var logs bytes.Buffer
	st, c := newStore(t, srv, mongostore.Options{Logger: newLogger(&logs)})
	for range 2 { // idempotent
		if err := st.EnsureIndexes(ctx); err != nil {
			t.Fatalf("EnsureIndexes: %v", err)
		}
	}
	specs, err := st.Collection().Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*int32{}
	for _, s := range specs {
		names[s.Name] = s.ExpireAfterSeconds
	}
	if srv.Ferret {
		if !strings.Contains(logs.String(), "refused a TTL index") {
			t.Errorf("FerretDB refuses TTL indexes, but the log says %q", logs.String())
		}
		if _, ok := names[mongostore.PlainIndexName]; !ok {
			t.Errorf("indexes %v, want %s", names, mongostore.PlainIndexName)
		}
	} else if exp, ok := names[mongostore.TTLIndexName]; !ok || exp == nil || *exp != 0 {
		t.Errorf("indexes %v, want %s with expireAfterSeconds 0 (log: %s)", names, mongostore.TTLIndexName, logs.String())
	}

	short, long := smartlimit.PerSecond(10), smartlimit.PerDay(10)
	allowN(t, st, "s1", short, 1)
	allowN(t, st, "s2", short, 5)
	allowN(t, st, "l", long, 1)
	c.Advance(time.Second) // short's documents are back to full
	if n, err := st.Cleanup(ctx); err != nil || n != 2 {
		t.Errorf("Cleanup = %d, %v; want 2", n, err)
	}
	if n, err := st.Cleanup(ctx); err != nil || n != 0 {
		t.Errorf("second Cleanup = %d, %v; want 0", n, err)
	}
	if n, err := st.Collection().CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("documents after Cleanup = %d, %v; want 1 (the day limit's)", n, err)
	}
	if r := allowN(t, st, "l", long, 0); r.Remaining != 9 {
		t.Errorf("day limit after Cleanup: Remaining %d, want 9", r.Remaining)
	}
}

// TestOutage checks that a server that is gone is an error that a failover
// coordinator counts against the tier (not bad input, not contention),
// from Ping and from checks, within the caller's deadline.
func TestOutage(t *testing.T) {
	srv := startServer(t)
	st, _ := newStore(t, srv, mongostore.Options{})
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	allowN(t, st, "k", smartlimit.PerSecond(5), 1)
	if !srv.Stop() {
		t.Skipf("cannot cut off the server named by %s (several hosts or mongodb+srv)", URIEnv)
	}
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := st.Ping(tctx); err == nil {
		t.Error("Ping of a stopped server = nil")
	}
	_, err := st.AllowN(tctx, "k", smartlimit.PerSecond(5), 1)
	var ie *smartlimit.InputError
	if err == nil || errors.As(err, &ie) || errors.Is(err, mongostore.ErrContention) {
		t.Errorf("AllowN on a stopped server = %v, want a connection error", err)
	}
}

// TestOverAdmission runs 32 goroutines on one key for 3 s at a frozen
// instant: exactly the capacity may pass, never more, however many
// conditional writes lose their race.
func TestOverAdmission(t *testing.T) {
	srv := startServer(t)
	skipOnFerret(t, srv, "the over-admission test")
	st, _ := newStore(t, srv, mongostore.Options{})
	l := smartlimit.Limit{Rate: 500, Period: time.Hour, Burst: 500}
	var allowed, contended atomic.Int64
	deadline := time.Now().Add(3 * time.Second)
	errs := make(chan error, 32)
	done := make(chan struct{})
	var running atomic.Int64
	running.Store(32)
	for range 32 {
		go func() {
			defer func() {
				if running.Add(-1) == 0 {
					close(done)
				}
			}()
			for time.Now().Before(deadline) {
				r, err := st.AllowN(ctx, "hot", l, 1)
				switch {
				case errors.Is(err, mongostore.ErrContention):
					contended.Add(1)
				case err != nil:
					errs <- err
					return
				case r.Allowed:
					allowed.Add(1)
				}
			}
		}()
	}
	<-done
	close(errs)
	for err := range errs {
		t.Fatalf("AllowN: %v", err)
	}
	stats := st.Stats()
	t.Logf("allowed %d of capacity %d; conflicts (retried writes) %d; gave up with ErrContention %d", allowed.Load(), l.Capacity(), stats.Conflicts, contended.Load())
	if got, want := allowed.Load(), l.Capacity(); got != want {
		t.Errorf("allowed %d, want exactly %d (over-admission %d)", got, want, got-want)
	}
}

// TestRootModuleHasNoMongoDriver is the dependency check: the core module
// stays free of the mongo driver and of FerretDB, and the mongo tier's
// module free of FerretDB.
func TestRootModuleHasNoMongoDriver(t *testing.T) {
	for _, c := range []struct {
		file string
		bad  []string
	}{
		{"../../go.mod", []string{"go.mongodb.org/mongo-driver", "FerretDB"}},
		{"../../mongostore/go.mod", []string{"FerretDB"}},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range c.bad {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s requires %s: it must stay out of that module", c.file, bad)
			}
		}
	}
}

// TestAllowManyContention checks that a document that keeps losing fails
// alone, with ErrContention in a *BatchError, and the other results stand.
func TestAllowManyContention(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	l := smartlimit.PerMinute(10)
	var races atomic.Int64
	races.Store(1 << 30)
	st := interfering(t, other, c, mongostore.Options{MaxRetries: 1, RetryBackoff: time.Microsecond}, &races, func() { allowN(t, other, "hot", l, 1) })
	// "hot" last: FerretDB stops a failed bulk write at its first error,
	// and the test wants the others written in the first round.
	reqs := []smartlimit.Request{{Key: "a", Limit: l, Cost: 1}, {Key: "c", Limit: l, Cost: 3}, {Key: "hot", Limit: l, Cost: 1}}
	rs, err := st.AllowMany(ctx, reqs)
	var be *smartlimit.BatchError
	if !errors.As(err, &be) || len(be.Errs) != 3 {
		t.Fatalf("AllowMany = %v, want a *BatchError of 3", err)
	}
	if be.Errs[0] != nil || be.Errs[1] != nil || !errors.Is(be.Errs[2], mongostore.ErrContention) {
		t.Errorf("item errors = %v, want only the hot key's, ErrContention", be.Errs)
	}
	if rs[0].Remaining != 9 || rs[1].Remaining != 7 || !rs[0].Allowed || !rs[1].Allowed {
		t.Errorf("results = %+v, want a and c allowed with Remaining 9 and 7", rs[:2])
	}
	races.Store(0)
	if r, err := other.Peek(ctx, "hot", l); err != nil || r.Remaining != 8 {
		t.Errorf("Peek(hot) = %+v, %v; want Remaining 8 (the other writer's two units only)", r, err)
	}
}

// A check that read a document that a Reset then deleted, and that nothing
// created again, must not write the old state back: the Reset stands.
func TestStaleWriteAfterResetDoesNotRestore(t *testing.T) {
	srv := startServer(t)
	other, c := newStore(t, srv, mongostore.Options{})
	l := smartlimit.PerHour(3)
	allowN(t, other, "k", l, 2) // the old document: 1 left
	var races atomic.Int64
	st := interfering(t, other, c, mongostore.Options{}, &races, func() {
		if err := other.Reset(ctx, "k", l); err != nil {
			t.Error(err)
		}
	})
	races.Store(1)
	if r := allowN(t, st, "k", l, 1); !r.Allowed || r.Remaining != 2 {
		t.Errorf("the stale check = %+v, want allowed with Remaining 2, decided again on the reset limit", r)
	}
	if r, err := other.Peek(ctx, "k", l); err != nil || r.Remaining != 2 {
		t.Errorf("after the Reset and one unit: Peek = %+v, %v; want Remaining 2 (the Reset lost)", r, err)
	}
	if got := st.Stats().Conflicts; got != 1 {
		t.Errorf("stale check's Conflicts = %d, want 1: its write must lose to the Reset", got)
	}
}
