package memfallback_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/memfallback"
)

var ctx = context.Background()

func mustAllow(t *testing.T, s *memfallback.Store, key string, l smartlimit.Limit, n int64) smartlimit.Result {
	t.Helper()
	r, err := s.AllowN(ctx, key, l, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %v, %d): %v", key, l, n, err)
	}
	return r
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []memfallback.Options{
		{Shards: -1},
		{MaxKeys: -1},
		{OnFull: 7},
		{LocalShare: -0.5},
		{LocalShare: 1.5},
	} {
		if s, err := memfallback.New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded, want an error", o)
		}
	}
}

// A warm key's check allocates nothing for the algorithms whose state has
// a fixed size.
func TestWarmCheckDoesNotAllocate(t *testing.T) {
	s, c := newStore(t, memfallback.Options{})
	for _, l := range []smartlimit.Limit{
		smartlimit.PerSecond(1000),
		{Algorithm: smartlimit.TokenBucket, Rate: 1000, Period: time.Second},
		{Algorithm: smartlimit.FixedWindow, Rate: 1000, Period: time.Second},
		{Algorithm: smartlimit.SlidingWindowCounter, Rate: 1000, Period: time.Second},
		{Algorithm: smartlimit.LeakyBucket, Rate: 1000, Period: time.Second},
	} {
		mustAllow(t, s, "warm", l, 1)
		allocs := testing.AllocsPerRun(100, func() {
			c.Advance(time.Millisecond)
			if _, err := s.AllowN(ctx, "warm", l, 1); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: AllowN on a warm key: %v allocations, want 0", l, allocs)
		}
		allocs = testing.AllocsPerRun(100, func() { s.Peek(ctx, "warm", l) })
		if allocs != 0 {
			t.Errorf("%v: Peek on a warm key: %v allocations, want 0", l, allocs)
		}
	}
}

// Equal limits written differently are one state, as they are one Redis
// key; different limits on one key are different states.
func TestStateIsKeyedLikeRedis(t *testing.T) {
	s, _ := newStore(t, memfallback.Options{})
	mustAllow(t, s, "k", smartlimit.PerSecond(10), 4)
	for _, x := range []struct {
		l    smartlimit.Limit
		want int64
	}{
		{smartlimit.Limit{Rate: 20, Period: 2 * time.Second, Burst: 10}, 6},
		{smartlimit.Limit{Rate: 10, Period: time.Second}, 6}, // burst 0 = rate
		{smartlimit.Limit{Rate: 10, Period: time.Second, Burst: 11}, 11},
		{smartlimit.Limit{Algorithm: smartlimit.TokenBucket, Rate: 10, Period: time.Second}, 10},
	} {
		if r := mustAllow(t, s, "k", x.l, 0); r.Remaining != x.want {
			t.Errorf("after 4 of 10/s, %v: Remaining %d, want %d", x.l, r.Remaining, x.want)
		}
	}
	if got, want := s.Len(), 1; got != want {
		t.Errorf("Len = %d, want %d (checks of cost 0 store nothing)", got, want)
	}
}

// Many limits in turn overflow the store's cache of validated limits; each
// check must still use its own limit's constants.
func TestManyLimits(t *testing.T) {
	s, _ := newStore(t, memfallback.Options{})
	for pass := int64(1); pass <= 2; pass++ {
		for rate := int64(3); rate < 1000; rate++ {
			l := smartlimit.Limit{Algorithm: smartlimit.Algorithm(rate % 6), Rate: rate, Period: time.Minute}
			r := mustAllow(t, s, "k", l, 1)
			if !r.Allowed || r.Limit != rate || r.Remaining != rate-pass {
				t.Fatalf("pass %d, %v: %+v, want allowed, Limit %d, Remaining %d", pass, l, r, rate, rate-pass)
			}
		}
	}
	if _, err := s.AllowN(ctx, "k", smartlimit.Limit{Rate: 5, Period: time.Minute}, -1); err == nil {
		t.Error("a bad cost on a cached limit was accepted")
	}
}

func TestLocalShare(t *testing.T) {
	for _, x := range []struct {
		share float64
		l     smartlimit.Limit
		want  int64 // capacity applied
	}{
		{1.0 / 3, smartlimit.PerSecond(10), 3},
		{1.0 / 49, smartlimit.PerSecond(98), 2},                                                     // 98·(1/49) is 1.9999… in floating point
		{0.5, smartlimit.PerSecond(1), 1},                                                           // never below 1
		{0.5, smartlimit.Limit{Rate: 10, Period: time.Second, Burst: 30}, 15},                       // Burst scales
		{0.25, smartlimit.Limit{Rate: 8, Period: time.Second}, 2},                                   // Burst 0 follows Rate
		{0.5, smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 7, Period: time.Second}, 3}, // rounded down
	} {
		s, _ := newStore(t, memfallback.Options{LocalShare: x.share})
		for i := range x.want {
			if r := mustAllow(t, s, "k", x.l, 1); !r.Allowed || r.Limit != x.want {
				t.Fatalf("share %v of %v: check %d = %+v, want allowed with Limit %d", x.share, x.l, i, r, x.want)
			}
		}
		if r := mustAllow(t, s, "k", x.l, 1); r.Allowed {
			t.Errorf("share %v of %v: check %d allowed, want the applied capacity %d to be the bound", x.share, x.l, x.want+1, x.want)
		}
	}
	// 5/min on 20 replicas: one unit each, refilled every 4 minutes, so
	// that the 20 refill 5/min in all (scaling Rate instead gave each a
	// unit a minute, 4× the limit).
	s, c := newStore(t, memfallback.Options{LocalShare: 1.0 / 20})
	mustAllow(t, s, "k", smartlimit.PerMinute(5), 1)
	c.Advance(4*time.Minute - time.Microsecond)
	if r := mustAllow(t, s, "k", smartlimit.PerMinute(5), 1); r.Allowed || r.RetryAfter != time.Microsecond {
		t.Errorf("5/min at 1/20 after 4min-1µs: %+v, want denied with RetryAfter 1µs", r)
	}
	// Scaled time: 10/s at 1/2 is 5/s, a unit every 200 ms.
	s, c = newStore(t, memfallback.Options{LocalShare: 0.5})
	mustAllow(t, s, "k", smartlimit.PerSecond(10), 5)
	c.Advance(199 * time.Millisecond)
	if r := mustAllow(t, s, "k", smartlimit.PerSecond(10), 1); r.Allowed || r.RetryAfter != time.Millisecond {
		t.Errorf("5/s after 199 ms: %+v, want denied with RetryAfter 1ms", r)
	}
}

// fill makes n keys hold live state: each over a 1/hour limit.
func fill(t *testing.T, s *memfallback.Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		if r := mustAllow(t, s, prefix+strconv.Itoa(i), smartlimit.PerHour(1), 1); !r.Allowed {
			t.Fatalf("filling: key %d denied: %+v", i, r)
		}
	}
}

func TestFullDenies(t *testing.T) {
	s, c := newStore(t, memfallback.Options{Shards: 1, MaxKeys: 3, SweepInterval: -1})
	fill(t, s, "live", 2)
	mustAllow(t, s, "short", smartlimit.PerSecond(10), 1) // replenished after 100 ms
	r := mustAllow(t, s, "new", smartlimit.PerSecond(10), 1)
	want := smartlimit.Result{Allowed: false, Limit: 10, RetryAfter: memfallback.DefaultSweepInterval, Tier: smartlimit.TierMemory}
	if r != want {
		t.Fatalf("new key in a full store: %+v, want %+v", r, want)
	}
	// Existing keys are served as ever; checks that store nothing pass.
	if r := mustAllow(t, s, "live0", smartlimit.PerHour(1), 1); r.Allowed || r.RetryAfter != time.Hour {
		t.Errorf("live key while full: %+v, want denied for an hour", r)
	}
	if r := mustAllow(t, s, "new", smartlimit.PerSecond(10), 0); !r.Allowed || r.Remaining != 10 {
		t.Errorf("cost 0 on a new key while full: %+v, want allowed", r)
	}
	// Once "short" is replenished, it alone makes room.
	c.Advance(100 * time.Millisecond)
	if r := mustAllow(t, s, "new", smartlimit.PerSecond(10), 1); !r.Allowed {
		t.Fatalf("new key after an entry replenished: %+v, want allowed", r)
	}
	for i := range 2 {
		if r := mustAllow(t, s, "live"+strconv.Itoa(i), smartlimit.PerHour(1), 1); r.Allowed {
			t.Errorf("live%d was evicted: allowed again %+v", i, r)
		}
	}
	if got := s.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
}

func TestFullError(t *testing.T) {
	s, _ := newStore(t, memfallback.Options{Shards: 1, MaxKeys: 2, OnFull: memfallback.ErrorWhenFull, SweepInterval: -1})
	fill(t, s, "live", 2)
	if _, err := s.AllowN(ctx, "new", smartlimit.PerSecond(10), 1); !errors.Is(err, memfallback.ErrFull) {
		t.Errorf("AllowN of a new key when full: %v, want ErrFull", err)
	}
	// AllowMany reports the item, and decides the others.
	rs, err := s.AllowMany(ctx, []smartlimit.Request{
		{Key: "live0", Limit: smartlimit.PerHour(1), Cost: 1},
		{Key: "new", Limit: smartlimit.PerSecond(10), Cost: 1},
	})
	var be *smartlimit.BatchError
	if !errors.As(err, &be) || be.Errs[0] != nil || !errors.Is(be.Errs[1], memfallback.ErrFull) || rs[0].Allowed || rs[0].RetryAfter != time.Hour {
		t.Errorf("AllowMany = %+v, %v; want item 1 failing with ErrFull and item 0 denied for an hour", rs, err)
	}
	// AllowAll is all or nothing when a new entry finds no room: the live
	// key's other limit is not charged.
	if _, err := s.AllowAll(ctx, "live0", 1, smartlimit.PerMinute(5)); !errors.Is(err, memfallback.ErrFull) {
		t.Errorf("AllowAll needing a new entry when full: %v, want ErrFull", err)
	}
	if _, err := s.AllowAll(ctx, "live1", 1, smartlimit.PerHour(1), smartlimit.PerMinute(5)); err != nil {
		t.Errorf("AllowAll on live1: %v", err) // denied by the hour limit: stores nothing, so no ErrFull
	}
	if got := s.Len(); got != 2 {
		t.Errorf("Len = %d, want 2", got)
	}
}

// A full store has room for a new limit on a key when the entry to evict
// is the key's own, replenished one: the check holds that key's lock, which
// the eviction sample skips, so the key's own entries are trimmed first.
func TestFullStoreEvictsTheCheckedKeysOwnEntry(t *testing.T) {
	for _, allowAll := range []bool{false, true} {
		s, c := newStore(t, memfallback.Options{Shards: 1, MaxKeys: 1, OnFull: memfallback.ErrorWhenFull, SweepInterval: -1})
		mustAllow(t, s, "k", smartlimit.Limit{Rate: 1, Period: time.Millisecond}, 1)
		c.Advance(time.Second) // that entry is back to full
		var r smartlimit.Result
		var err error
		if allowAll {
			r, err = s.AllowAll(ctx, "k", 1, smartlimit.PerSecond(5))
		} else {
			r, err = s.AllowN(ctx, "k", smartlimit.PerSecond(5), 1)
		}
		if err != nil || !r.Allowed || r.Remaining != 4 {
			t.Errorf("AllowAll %v: a new limit on k, whose own entry is replenished: %+v, %v; want allowed, 4 left", allowAll, r, err)
		}
		if got := s.Len(); got != 1 {
			t.Errorf("AllowAll %v: Len = %d, want 1", allowAll, got)
		}
	}
}

func TestAllowAllRoomIsAllOrNothing(t *testing.T) {
	s, _ := newStore(t, memfallback.Options{Shards: 1, MaxKeys: 3, SweepInterval: -1})
	fill(t, s, "live", 2)
	// Two new entries, room for one: neither is stored, nothing charged.
	r, err := s.AllowAll(ctx, "k", 1, smartlimit.PerMinute(5), smartlimit.PerHour(50))
	if err != nil || r.Allowed {
		t.Fatalf("AllowAll needing 2 entries with room for 1 = %+v, %v; want denied", r, err)
	}
	if got := s.Len(); got != 2 {
		t.Errorf("Len = %d, want 2 (nothing stored)", got)
	}
	if r := mustAllow(t, s, "k", smartlimit.PerMinute(5), 0); r.Remaining != 5 {
		t.Errorf("5/min Remaining = %d, want 5", r.Remaining)
	}
}

// The sweep drops replenished entries and keeps live ones, sliding logs
// and leases included.
func TestSweep(t *testing.T) {
	s, c := newStore(t, memfallback.Options{SweepInterval: -1})
	limits := []smartlimit.Limit{
		smartlimit.PerSecond(2),
		{Algorithm: smartlimit.TokenBucket, Rate: 2, Period: time.Second},
		{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Second},
		{Algorithm: smartlimit.SlidingWindow, Rate: 2, Period: time.Second},
		{Algorithm: smartlimit.SlidingWindowCounter, Rate: 2, Period: time.Second},
		{Algorithm: smartlimit.LeakyBucket, Rate: 2, Period: time.Second},
		{Algorithm: smartlimit.Concurrency, Rate: 2, Period: time.Second},
	}
	for _, l := range limits {
		mustAllow(t, s, "k", l, 1)
		mustAllow(t, s, "k", l, 1)
	}
	c.Advance(999 * time.Millisecond)
	if n := s.Sweep(); n != 0 {
		t.Fatalf("Sweep at 999ms dropped %d live entries", n)
	}
	for _, l := range limits {
		if r := mustAllow(t, s, "k", l, 0); r.ResetAfter == 0 {
			t.Errorf("%v: state lost to the sweep: %+v", l, r)
		}
	}
	c.Advance(time.Second + time.Millisecond) // the sliding window counter needs two windows
	if n := s.Sweep(); n != len(limits) {
		t.Errorf("Sweep after 2 s dropped %d, want %d", n, len(limits))
	}
	if got := s.Len(); got != 0 {
		t.Errorf("Len after sweep = %d, want 0", got)
	}
}

func TestJanitorSweepsAndCloseStopsIt(t *testing.T) {
	before := runtime.NumGoroutine()
	s, c := newStore(t, memfallback.Options{SweepInterval: time.Millisecond})
	fill(t, s, "k", 10)
	c.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d replenished entries after 5 s", s.Len())
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
	// The store still works after Close.
	if r := mustAllow(t, s, "after", smartlimit.PerSecond(1), 1); !r.Allowed {
		t.Errorf("AllowN after Close: %+v", r)
	}
}

func TestLeaseRelease(t *testing.T) {
	s, _ := newStore(t, memfallback.Options{})
	l := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: time.Minute}
	// AllowN takes an anonymous lease, which only expires.
	mustAllow(t, s, "k", l, 1)
	ls, r, err := s.Acquire(ctx, "k", l)
	if err != nil || ls != nil || r.Allowed {
		t.Fatalf("Acquire over an anonymous lease = %v, %+v, %v; want denied", ls, r, err)
	}
	if err := s.Reset(ctx, "k", l); err != nil {
		t.Fatal(err)
	}
	ls, _, err = s.Acquire(ctx, "k", l)
	if err != nil || ls == nil {
		t.Fatalf("Acquire after Reset = %v, %v", ls, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := ls.Release(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Release with a canceled context = %v, want context.Canceled", err)
	}
	if err := ls.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if r := mustAllow(t, s, "k", l, 0); r.Remaining != 1 {
		t.Errorf("Remaining after Release = %d, want 1", r.Remaining)
	}
}

func TestWait(t *testing.T) {
	s, err := memfallback.New(memfallback.Options{}) // the real clock: Wait sleeps on it
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := smartlimit.Limit{Rate: 100, Period: time.Second, Burst: 1}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	for range 3 {
		if err := s.Wait(wctx, "k", l); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if d := time.Since(start); d < 19*time.Millisecond {
		t.Errorf("3 Waits at 100/s burst 1 took %v, want at least 20ms", d)
	}
	if err := s.WaitN(wctx, "k", l, 2); !errors.Is(err, smartlimit.ErrNeverAllowed) {
		t.Errorf("WaitN over burst = %v, want ErrNeverAllowed", err)
	}
	slow := smartlimit.PerHour(1)
	s.Allow(ctx, "slow", slow)
	if err := s.Wait(wctx, "slow", slow); !errors.Is(err, smartlimit.ErrWouldExceedDeadline) {
		t.Errorf("Wait for an hour with a 5 s deadline = %v, want ErrWouldExceedDeadline", err)
	}
}

// A flood of distinct keys against a bounded store: memory stays bounded
// and a victim over its limit stays over it, whether the flood's entries
// stay live (time stands still) or replenish and get evicted.
func TestFlood(t *testing.T) {
	maxKeys, flood := 100_000, 1_000_000
	if raceEnabled {
		maxKeys, flood = 10_000, 100_000
	}
	s, c := newStore(t, memfallback.Options{MaxKeys: maxKeys, SweepInterval: -1})
	victim, vl := "victim", smartlimit.PerHour(10)
	mustAllow(t, s, victim, vl, 10)
	if r := mustAllow(t, s, victim, vl, 1); r.Allowed {
		t.Fatal("victim not over its limit to begin with")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	key := make([]byte, 0, 16)
	full := 0
	for i := range flood {
		if i%(maxKeys/100) == 0 {
			c.Advance(time.Millisecond) // flood entries replenish after 100 ms: MaxKeys of them are live
		}
		key = strconv.AppendInt(append(key[:0], 'f'), int64(i), 10)
		r := mustAllow(t, s, string(key), smartlimit.PerSecond(10), 1)
		if !r.Allowed {
			full++
		}
		if i%(flood/10) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			if r := mustAllow(t, s, victim, vl, 1); r.Allowed {
				t.Fatalf("after %d flood keys the victim is allowed again: %+v", i, r)
			}
		}
		if i%10_000 == 0 && s.Len() > maxKeys {
			t.Fatalf("after %d flood keys the store holds %d entries, more than MaxKeys %d", i, s.Len(), maxKeys)
		}
	}
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	if r := mustAllow(t, s, victim, vl, 1); r.Allowed {
		t.Fatalf("after the flood the victim is allowed again: %+v", r)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d flood keys, MaxKeys %d: %d entries held, %d flood checks found no room; heap in use: peak %.1f MiB (%.1f MiB above the start), live after GC %.1f MiB",
		flood, maxKeys, s.Len(), full, float64(peak)/(1<<20), float64(peak-base)/(1<<20), float64(ms.HeapAlloc)/(1<<20))
	if s.Len() > maxKeys {
		t.Errorf("Len = %d > MaxKeys", s.Len())
	}
	// Time stands still: every entry is live, new keys are refused, and
	// the victim still cannot pass.
	for i := range 10_000 {
		key = strconv.AppendInt(append(key[:0], 'g'), int64(i), 10)
		mustAllow(t, s, string(key), smartlimit.PerSecond(10), 1)
	}
	if r := mustAllow(t, s, victim, vl, 1); r.Allowed {
		t.Fatalf("after a frozen-time flood the victim is allowed again: %+v", r)
	}
}

func ExampleStore() {
	s, err := memfallback.New(memfallback.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	limit := smartlimit.PerSecond(2)
	for range 3 {
		r, _ := s.Allow(context.Background(), "alice", limit)
		fmt.Println(r.Allowed, r.Remaining, r.Tier)
	}
	// Output:
	// true 1 memory
	// true 0 memory
	// false 0 memory
}

func ExampleOptions_localShare() {
	// Three replicas each falling back to memory keep 1/3 of the limit.
	s, _ := memfallback.New(memfallback.Options{LocalShare: 1.0 / 3})
	defer s.Close()
	r, _ := s.Allow(context.Background(), "alice", smartlimit.PerMinute(100))
	fmt.Println(r.Limit, r.Remaining)
	// Output: 33 32
}

// TestChecksRacingSweeps checks keys from several goroutines while a sweep
// removes the keys that are back to full and the checks add them again, the
// table's lock-free readers racing its writers (under -race in CI). Every
// key must allow exactly its burst in each round. The interleaving where a
// check finds a key the sweep then removes is rare here;
// TestRemovedKeyIsNotCharged sets it up directly.
func TestChecksRacingSweeps(t *testing.T) {
	s, c := newStore(t, memfallback.Options{SweepInterval: -1, Shards: 2})
	const (
		keys       = 1000
		burst      = 2
		goroutines = 4
		rounds     = 20
	)
	l := smartlimit.Limit{Rate: burst, Period: time.Second}
	names := make([]string, keys)
	for k := range names {
		names[k] = "k" + strconv.Itoa(k)
	}
	for round := range rounds {
		c.Advance(time.Second) // every key back to full, so a sweep removes it
		allowed := make([]atomic.Int64, keys)
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			s.Sweep()
		})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				for i := range 2 * keys * burst {
					k := (i*(2*g+1) + g*keys/goroutines) % keys
					r, err := s.AllowN(ctx, names[k], l, 1)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Allowed {
						allowed[k].Add(1)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for k := range allowed {
			if n := allowed[k].Load(); n != burst {
				t.Fatalf("round %d: key %d allowed %d times on a frozen clock, want exactly its burst %d", round, k, n, burst)
			}
		}
	}
}

// A sliding window check grows the heap by a small constant whatever its
// cost: the log keeps one entry per accepted request, not per unit.
func TestSlidingWindowHugeCostBoundedHeap(t *testing.T) {
	s, err := memfallback.New(memfallback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 1 << 40, Period: time.Hour}
	mustAllow(t, s, "warm", l, 1) // the store's own first allocations
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, cost := range []int64{5_000_000, 1_000_000_000, 1<<40 - 1_005_000_000} {
		if r := mustAllow(t, s, "k", l, cost); !r.Allowed {
			t.Fatalf("check %d of cost %d denied: %+v", i, cost, r)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Errorf("three checks of costs up to 10^9 allocated %d bytes; want a small constant", grew)
	}
	if r := mustAllow(t, s, "k", l, 1); r.Allowed || r.Remaining != 0 {
		t.Errorf("over the limit: %+v, want denied with Remaining 0", r)
	}
}
