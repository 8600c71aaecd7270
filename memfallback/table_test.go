package memfallback

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/testkit"
)

func newTestStore(t *testing.T, opts Options) (*Store, *testkit.Clock) {
	t.Helper()
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	opts.Clock, opts.SweepInterval = c.Now, -1
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

// A check finds its key without the shard lock, so a sweep can remove the
// key between the lookup and the check. The check must then decide nothing
// on the removed state (a charge there would be lost) and go on to the
// locked path, which charges a new one.
func TestRemovedKeyIsNotCharged(t *testing.T) {
	s, c := newTestStore(t, Options{})
	ctx := context.Background()
	l := smartlimit.Limit{Rate: 1, Period: time.Hour}
	if r, err := s.AllowN(ctx, "k", l, 1); err != nil || !r.Allowed {
		t.Fatalf("first check: %+v, %v", r, err)
	}
	c.Advance(time.Hour) // back to full: a sweep removes it

	tag := s.tag("k")
	sh := s.shard(tag)
	ks := sh.t.Load().find(tag, "k") // what a check found just before the sweep
	p := s.memoHit(l, 1)
	if ks == nil || p == nil {
		t.Fatalf("key or memo missing: %p %p", ks, p)
	}
	if n := s.Sweep(); n != 1 {
		t.Fatalf("Sweep dropped %d entries, want 1", n)
	}
	var r smartlimit.Result
	if s.decide(&r, ks, "k", p, s.now(), 1, "") {
		t.Fatalf("a check decided on a removed key: %+v", r)
	}
	if r, err := s.AllowN(ctx, "k", l, 1); err != nil || !r.Allowed {
		t.Fatalf("check after the sweep: %+v, %v", r, err)
	}
	if r, err := s.AllowN(ctx, "k", l, 1); err != nil || r.Allowed {
		t.Fatalf("second check after the sweep was allowed: the first charge was lost: %+v, %v", r, err)
	}
}

// Keys whose hashes collide share a tag and a probe; the table tells them
// apart by name, and removing one leaves the others found.
func TestTableTellsCollidingKeysApart(t *testing.T) {
	tb := newTable(8)
	const tag, otherTag = 1<<63 | 5<<32, 1<<63 | 6<<32
	a := &keyState{key: "a"}
	b := &keyState{key: "b"}
	other := &keyState{key: "c"} // homes at the slot b spills into
	tb.fill(tag, a)
	tb.fill(tag, b)
	tb.fill(otherTag, other)
	for _, c := range []struct {
		tag uint64
		ks  *keyState
	}{{tag, a}, {tag, b}, {otherTag, other}} {
		if got := tb.find(c.tag, c.ks.key); got != c.ks {
			t.Errorf("find(%q) = %p, want %p", c.ks.key, got, c.ks)
		}
	}
	if got := tb.candidate(tag); got != a {
		t.Errorf("candidate = %p, want the first with the tag, %p", got, a)
	}
	if got := tb.find(tag, "z"); got != nil {
		t.Errorf("find of an absent key with a colliding tag = %p", got)
	}
	sh := &shard{}
	sh.t.Store(tb)
	sh.unlink(tag, a)
	if got := tb.find(tag, "a"); got != nil {
		t.Errorf("find(a) after unlink = %p", got)
	}
	if got := tb.find(tag, "b"); got != b {
		t.Errorf("find(b) after unlinking a = %p, want %p", got, b)
	}
	if got := tb.candidate(tag); got != b {
		t.Errorf("candidate after unlinking a = %p, want %p", got, b)
	}
	if tb.live != 2 || tb.used != 3 {
		t.Errorf("live, used = %d, %d; want 2, 3 (a tombstone)", tb.live, tb.used)
	}
	sh.put(tag, a) // reuses the tombstone
	if got := tb.find(tag, "a"); got != a || tb.used != 3 {
		t.Errorf("after put(a): find = %p, used = %d", got, tb.used)
	}
}

// A flood of keys grows the shards' tables; once a sweep has removed the
// keys, the tables shrink back, so their memory is not held for good.
func TestTablesShrinkAfterSweep(t *testing.T) {
	s, c := newTestStore(t, Options{Shards: 4})
	ctx := context.Background()
	l := smartlimit.PerSecond(1)
	for i := range 10_000 {
		if _, err := s.AllowN(ctx, "k"+strconv.Itoa(i), l, 1); err != nil {
			t.Fatal(err)
		}
	}
	slots := func() int {
		n := 0
		for i := range s.shards {
			n += len(s.shards[i].t.Load().tags)
		}
		return n
	}
	if n := slots(); n < 10_000 {
		t.Fatalf("10,000 keys in %d slots", n)
	}
	if _, err := s.AllowN(ctx, "kept", smartlimit.Limit{Rate: 1, Period: time.Hour}, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if n := s.Sweep(); n != 10_000 {
		t.Fatalf("Sweep dropped %d, want 10,000", n)
	}
	if n := slots(); n > 4*8 {
		t.Errorf("after the sweep the tables hold %d slots, want at most %d", n, 4*8)
	}
	if r, err := s.AllowN(ctx, "kept", smartlimit.Limit{Rate: 1, Period: time.Hour}, 1); err != nil || r.Allowed {
		t.Errorf("the key that was not full was lost to the shrink: %+v, %v", r, err)
	}
}
