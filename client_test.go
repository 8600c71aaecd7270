package smartlimit_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/redistest"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

var ctx = context.Background()

func allAlgorithms() []smartlimit.Algorithm {
	return []smartlimit.Algorithm{smartlimit.GCRA, smartlimit.TokenBucket, smartlimit.FixedWindow,
		smartlimit.SlidingWindow, smartlimit.SlidingWindowCounter, smartlimit.LeakyBucket, smartlimit.Concurrency}
}

// Every key a script writes expires when its state is back to full, no later
// (rounded up to the millisecond), and carries the version of the script's
// state format, not of its source.
func TestKeysExpireAndCarryVersion(t *testing.T) {
	for _, a := range allAlgorithms() {
		t.Run(a.String(), func(t *testing.T) {
			s := smartlimittest.New(t)
			l := smartlimit.Limit{Algorithm: a, Rate: 7, Period: 3 * time.Second}
			r, err := s.Client.Allow(ctx, "k", l)
			if err != nil || !r.Allowed {
				t.Fatalf("Allow = %+v, %v", r, err)
			}
			keys := s.Miniredis.Keys()
			if len(keys) != 1 {
				t.Fatalf("keys = %q, want one", keys)
			}
			sc, _ := smartlimit.ScriptFor(a)
			if want := ":s" + strconv.Itoa(sc.State); !strings.HasSuffix(keys[0], want) || sc.State < 1 {
				t.Errorf("key %q does not end in %q", keys[0], want)
			}
			if want, _ := s.Client.Key("k", l); keys[0] != want {
				t.Errorf("key %q, Client.Key says %q", keys[0], want)
			}
			ttl := s.Miniredis.TTL(keys[0])
			if ttl <= 0 || ttl > r.ResetAfter.Truncate(time.Millisecond)+time.Millisecond {
				t.Errorf("TTL %v, want in (0, %v rounded up to ms]", ttl, r.ResetAfter)
			}
			// At the TTL the state is full again: the key is gone and a new
			// check finds the whole capacity.
			s.Advance(ttl)
			if got := s.Miniredis.Keys(); len(got) != 0 {
				t.Errorf("after TTL keys = %q", got)
			}
			r, err = s.Client.Peek(ctx, "k", l)
			if err != nil || r.Remaining != l.Capacity() {
				t.Errorf("after TTL Peek = %+v, %v; want remaining %d", r, err, l.Capacity())
			}
		})
	}
}

// A denied or cost-0 check writes nothing.
func TestDeniedWritesNothing(t *testing.T) {
	s := smartlimittest.New(t)
	l := smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1, Period: time.Minute}
	if r, err := s.Client.AllowN(ctx, "k", l, 0); err != nil || !r.Allowed {
		t.Fatalf("cost 0 = %+v, %v", r, err)
	}
	if keys := s.Miniredis.Keys(); len(keys) != 0 {
		t.Fatalf("cost 0 wrote %q", keys)
	}
	if r, err := s.Client.AllowN(ctx, "k", l, 2); err != nil || r.Allowed || r.RetryAfter != smartlimit.Never {
		t.Fatalf("cost 2 > rate 1 = %+v, %v; want denied with RetryAfter Never", r, err)
	}
	if keys := s.Miniredis.Keys(); len(keys) != 0 {
		t.Fatalf("denial wrote %q", keys)
	}
}

// Bad input is an *InputError before any I/O: the server is closed, so any
// I/O would surface as a connection error instead.
func TestBadInputBeforeIO(t *testing.T) {
	s := smartlimittest.New(t)
	s.Miniredis.Close()
	ok := smartlimit.PerSecond(1)
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"rate 0", func() error { _, err := s.Client.Allow(ctx, "k", smartlimit.Limit{Period: time.Second}); return err }, smartlimit.ErrInvalidLimit},
		{"period 0", func() error { _, err := s.Client.Allow(ctx, "k", smartlimit.Limit{Rate: 1}); return err }, smartlimit.ErrInvalidLimit},
		{"period 1ns", func() error { _, err := s.Client.Allow(ctx, "k", smartlimit.Limit{Rate: 1, Period: 1}); return err }, smartlimit.ErrInvalidLimit},
		{"burst -1", func() error {
			_, err := s.Client.Allow(ctx, "k", smartlimit.Limit{Rate: 1, Period: time.Second, Burst: -1})
			return err
		}, smartlimit.ErrInvalidLimit},
		{"algorithm 99", func() error {
			_, err := s.Client.Allow(ctx, "k", smartlimit.Limit{Algorithm: 99, Rate: 1, Period: time.Second})
			return err
		}, smartlimit.ErrInvalidLimit},
		{"too precise", func() error {
			_, err := s.Client.Allow(ctx, "k", smartlimit.Limit{Rate: 999_999_937, Period: 24 * time.Hour})
			return err
		}, smartlimit.ErrInvalidLimit},
		{"empty key", func() error { _, err := s.Client.Allow(ctx, "", ok); return err }, smartlimit.ErrInvalidKey},
		{"brace key", func() error { _, err := s.Client.Allow(ctx, "a}b", ok); return err }, smartlimit.ErrInvalidKey},
		{"long key", func() error {
			_, err := s.Client.Allow(ctx, strings.Repeat("k", smartlimit.MaxKeyLen+1), ok)
			return err
		}, smartlimit.ErrInvalidKey},
		{"cost -1", func() error { _, err := s.Client.AllowN(ctx, "k", ok, -1); return err }, smartlimit.ErrInvalidCost},
		{"lease cost 2", func() error {
			_, err := s.Client.AllowN(ctx, "k", smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 5, Period: time.Second}, 2)
			return err
		}, smartlimit.ErrInvalidCost},
		{"batch item", func() error {
			_, err := s.Client.AllowMany(ctx, []smartlimit.Request{{Key: "k", Limit: ok, Cost: 1}, {Key: "", Limit: ok, Cost: 1}})
			return err
		}, smartlimit.ErrInvalidKey},
		{"AllowAll same limit twice", func() error { _, err := s.Client.AllowAll(ctx, "k", 1, ok, ok); return err }, smartlimit.ErrInvalidLimit},
		{"AllowAll none", func() error { _, err := s.Client.AllowAll(ctx, "k", 1); return err }, smartlimit.ErrInvalidLimit},
		{"Acquire not concurrency", func() error { _, _, err := s.Client.Acquire(ctx, "k", ok); return err }, smartlimit.ErrInvalidLimit},
		{"Reset empty key", func() error { return s.Client.Reset(ctx, "", ok) }, smartlimit.ErrInvalidKey},
		{"Peek bad limit", func() error { _, err := s.Client.Peek(ctx, "k", smartlimit.Limit{}); return err }, smartlimit.ErrInvalidLimit},
	}
	for _, c := range cases {
		err := c.call()
		var ie *smartlimit.InputError
		if !errors.Is(err, c.want) || !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want %v as *InputError", c.name, err, c.want)
		}
	}
}

// NOSCRIPT (after a restart, failover or SCRIPT FLUSH) is recovered with
// EVAL, single and batched, with no failed call and no double count.
func TestNoScriptRecovered(t *testing.T) {
	s := smartlimittest.New(t)
	l := smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 100, Period: time.Minute}
	flush := func() {
		if err := s.Redis.Do(ctx, s.Redis.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	used := int64(0)
	for i := range 5 {
		flush()
		r, err := s.Client.Allow(ctx, "single", l)
		used++
		if err != nil || !r.Allowed || r.Remaining != 100-used {
			t.Fatalf("call %d after SCRIPT FLUSH = %+v, %v; want allowed, remaining %d", i, r, err, 100-used)
		}
	}
	reqs := make([]smartlimit.Request, 20)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: fmt.Sprint("batch", i%7), Limit: l, Cost: 1}
	}
	for round := range 3 {
		flush()
		rs, err := s.Client.AllowMany(ctx, reqs)
		if err != nil {
			t.Fatalf("round %d: AllowMany after SCRIPT FLUSH: %v", round, err)
		}
		seen := map[string]int64{}
		for i, r := range rs {
			seen[reqs[i].Key]++
			want := 100 - int64(round)*int64(countKey(reqs, reqs[i].Key)) - seen[reqs[i].Key]
			if !r.Allowed || r.Remaining != want {
				t.Fatalf("round %d item %d = %+v, want remaining %d", round, i, r, want)
			}
		}
	}
	missing, err := smartlimit.MissingScripts(ctx, s.Redis)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 {
		t.Errorf("after EVAL fallbacks, missing = %v; want only the unused per-algorithm scripts on one node", missing)
	}
	if err := smartlimit.LoadScripts(ctx, s.Redis); err != nil {
		t.Fatal(err)
	}
	if missing, err := smartlimit.MissingScripts(ctx, s.Redis); err != nil || len(missing) != 0 {
		t.Errorf("after LoadScripts missing = %v, %v", missing, err)
	}
}

func countKey(reqs []smartlimit.Request, key string) int {
	n := 0
	for _, r := range reqs {
		if r.Key == key {
			n++
		}
	}
	return n
}

// A backend error is returned wrapped, never retried and never turned into
// an allow.
func TestBackendErrorReturned(t *testing.T) {
	s := smartlimittest.New(t)
	s.Miniredis.SetError("LOADING Redis is loading the dataset in memory")
	r, err := s.Client.Allow(ctx, "k", smartlimit.PerSecond(1))
	if err == nil || r.Allowed || !strings.Contains(err.Error(), "LOADING") {
		t.Fatalf("Allow on a failing server = %+v, %v; want a LOADING error and no allow", r, err)
	}
	rs, err := s.Client.AllowMany(ctx, []smartlimit.Request{{Key: "a", Limit: smartlimit.PerSecond(1), Cost: 1}})
	var be *smartlimit.BatchError
	if !errors.As(err, &be) || be.Errs[0] == nil || rs[0].Allowed {
		t.Fatalf("AllowMany on a failing server = %+v, %v; want a *BatchError", rs, err)
	}
}

// 64 goroutines on one key with time frozen: exactly burst are allowed.
func TestHotKeyExactlyBurst(t *testing.T) {
	for _, a := range []smartlimit.Algorithm{smartlimit.GCRA, smartlimit.TokenBucket, smartlimit.FixedWindow, smartlimit.SlidingWindow, smartlimit.SlidingWindowCounter, smartlimit.LeakyBucket} {
		t.Run(a.String(), func(t *testing.T) {
			s := smartlimittest.New(t)
			l := smartlimit.Limit{Algorithm: a, Rate: 50, Period: time.Second}
			var mu sync.Mutex
			allowed := 0
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for range 4 {
						r, err := s.Client.Allow(ctx, "hot", l)
						if err != nil {
							t.Error(err)
							return
						}
						if r.Allowed {
							mu.Lock()
							allowed++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			if allowed != 50 {
				t.Errorf("allowed %d of 256, want exactly 50", allowed)
			}
		})
	}
}

// Batches larger than one script call are cut into several, and keys of
// different slots never share a call on a Cluster client (rueidis would
// panic): miniredis answers CLUSTER SLOTS, so rueidis treats it as one.
func TestAllowManyLargeMixed(t *testing.T) {
	s := smartlimittest.New(t)
	var reqs []smartlimit.Request
	for i := range 1300 {
		a := allAlgorithms()[i%7]
		reqs = append(reqs, smartlimit.Request{Key: fmt.Sprint("user", i%300), Limit: smartlimit.Limit{Algorithm: a, Rate: 3, Period: time.Second}, Cost: 1})
	}
	rs, err := s.Client.AllowMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	// Each (key, algorithm) pair occurs 1300/2100 < 1 or more times; count
	// the expected admissions per pair: the first 3 of each.
	seen := map[string]int{}
	for i, r := range rs {
		id := reqs[i].Key + reqs[i].Limit.Algorithm.String()
		seen[id]++
		if want := seen[id] <= 3; r.Allowed != want {
			t.Fatalf("item %d (%s, occurrence %d): allowed %v, want %v", i, id, seen[id], r.Allowed, want)
		}
	}
}

// A batch of one algorithm runs in that algorithm's own script (cheaper for
// Redis than "multi"): every script's batch path decides as AllowN would,
// with keys repeated within the batch.
func TestAllowManyOneAlgorithm(t *testing.T) {
	s := smartlimittest.New(t)
	for _, a := range allAlgorithms() {
		l := smartlimit.Limit{Algorithm: a, Rate: 3, Period: time.Second}
		var reqs []smartlimit.Request
		for i := range 40 {
			reqs = append(reqs, smartlimit.Request{Key: fmt.Sprint("one-", a, "-", i%8), Limit: l, Cost: 1})
		}
		rs, err := s.Client.AllowMany(ctx, reqs)
		if err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		seen := map[string]int64{}
		for i, r := range rs {
			seen[reqs[i].Key]++
			allowed := seen[reqs[i].Key] <= 3
			if r.Allowed != allowed || (allowed && a != smartlimit.LeakyBucket && r.Remaining != 3-seen[reqs[i].Key]) {
				t.Fatalf("%v item %d (%s, occurrence %d) = %+v, want allowed %v", a, i, reqs[i].Key, seen[reqs[i].Key], r, allowed)
			}
		}
	}
}

// With WithClientClock the scripts use the client's time, and time that runs
// backwards for a key never returns capacity.
func TestClientClock(t *testing.T) {
	now := time.Date(2031, 5, 5, 12, 0, 0, 0, time.UTC)
	s := smartlimittest.New(t, smartlimit.WithClientClock(func() time.Time { return now }))
	for _, a := range []smartlimit.Algorithm{smartlimit.FixedWindow, smartlimit.TokenBucket, smartlimit.SlidingWindow, smartlimit.SlidingWindowCounter, smartlimit.GCRA} {
		l := smartlimit.Limit{Algorithm: a, Rate: 2, Period: time.Second}
		now = time.Date(2031, 5, 5, 12, 0, 0, 0, time.UTC)
		for range 2 {
			if r, err := s.Client.Allow(ctx, "k", l); err != nil || !r.Allowed {
				t.Fatalf("%v: %+v %v", a, r, err)
			}
		}
		if r, _ := s.Client.Allow(ctx, "k", l); r.Allowed {
			t.Fatalf("%v: third allowed", a)
		}
		now = now.Add(-10 * time.Second) // the clock jumps back
		if r, _ := s.Client.Allow(ctx, "k", l); r.Allowed {
			t.Errorf("%v: allowed after the clock went back: time ran backwards for the key", a)
		}
		now = now.Add(12 * time.Second)
		if r, _ := s.Client.Allow(ctx, "k", l); !r.Allowed {
			t.Errorf("%v: denied two periods later", a)
		}
	}
}

func TestSlot(t *testing.T) {
	// Known values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]uint16{"123456789": 0x31C3 & 16383, "foo": 12182, "bar": 5061, "user:1000": 1649} {
		if got := smartlimit.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestRealRedis runs fixed sequences on a real redis-server with the client
// clock, which makes real Redis as deterministic as miniredis: the same
// scripts must give the same answers there, where Lua differs in places.
func TestRealRedis(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	real, err := smartlimit.New(rc, smartlimit.WithClientClock(func() time.Time { return now }), smartlimit.WithPrefix(fmt.Sprint("t", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	mini := smartlimittest.New(t, smartlimit.WithClientClock(func() time.Time { return now }))
	limits := []smartlimit.Limit{}
	for _, a := range allAlgorithms() {
		limits = append(limits, smartlimit.Limit{Algorithm: a, Rate: 7, Period: time.Second, Burst: 3},
			smartlimit.Limit{Algorithm: a, Rate: 6, Period: time.Second})
	}
	steps := []time.Duration{0, 0, 0, 0, 100 * time.Millisecond, 142857 * time.Microsecond, 0, 900 * time.Millisecond, 0, 0, 3 * time.Second}
	for _, l := range limits {
		for i, d := range steps {
			now = now.Add(d)
			cost := int64(i%3 + 0)
			if l.Algorithm == smartlimit.Concurrency {
				cost = 1
			}
			rr, err1 := real.AllowN(ctx, "k", l, cost)
			mr, err2 := mini.Client.AllowN(ctx, "k", l, cost)
			if err1 != nil || err2 != nil || rr != mr {
				t.Fatalf("%v step %d cost %d:\nreal %+v %v\nmini %+v %v", l, i, cost, rr, err1, mr, err2)
			}
		}
	}
	// Redis TIME mode answers too.
	timed, _ := smartlimit.New(rc, smartlimit.WithPrefix(fmt.Sprint("u", time.Now().UnixNano())))
	r, err := timed.Allow(ctx, "k", smartlimit.PerSecond(1))
	if err != nil || !r.Allowed {
		t.Fatalf("TIME mode: %+v %v", r, err)
	}
	if r, _ := timed.Allow(ctx, "k", smartlimit.PerSecond(1)); r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > time.Second {
		t.Fatalf("TIME mode second call: %+v", r)
	}
}

// The scripts are a protocol of their own, documented in lua/README.md:
// call each with raw EVAL, as a service in another language would.
func TestRawEval(t *testing.T) {
	testRawEval(t, smartlimittest.New(t).Redis)
}

func TestRawEvalRealRedis(t *testing.T) {
	testRawEval(t, redistest.Start(t).Client(t))
}

func testRawEval(t *testing.T, rc rueidis.Client) {
	t.Helper()
	// now (µs), mode, then runs of items that share a limit: algorithm, P,
	// R, burst, the run's length, and each item's cost.
	// GCRA 2/s burst 2: period 1e6 µs and rate 2 reduce by their gcd 2 to
	// P = 500000 ticks per unit and R = 1 tick per µs.
	now := "1893456000000000"
	eval := func(name string, keys []string, args ...string) []int64 {
		var src string
		for _, sc := range smartlimit.Scripts() {
			if sc.Name == name {
				src = sc.Source
			}
		}
		cmd := append([]string{"EVAL", src, strconv.Itoa(len(keys))}, keys...)
		v, err := rc.Do(ctx, rc.B().Arbitrary(cmd[0]).Args(append(cmd[1:], args...)...).Build()).AsIntSlice()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	got := eval("gcra", []string{"raw:{a}:gcra"}, now, "0", "0", "500000", "1", "2", "1", "1")
	want := []int64{1, 1, 500000, 0, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("gcra = %v, want %v", got, want)
	}
	// The other scripts, one call each at 2 per second (a lease of 1 s for
	// concurrency): allowed, 1 remaining, reset when the state is full again.
	for _, c := range []struct {
		script string
		args   []string
		want   []int64
	}{
		{"token_bucket", []string{"1", "500000", "1", "2", "1", "1"}, []int64{1, 1, 500000, 0, 0}},
		{"sliding_window", []string{"3", "1000000", "2", "2", "1", "1"}, []int64{1, 1, 1000000, 0, 0}},
		{"sliding_window_counter", []string{"4", "1000000", "2", "2", "1", "1"}, []int64{1, 1, 2000000, 0, 0}},
		{"leaky_bucket", []string{"5", "500000", "1", "2", "1", "1"}, []int64{1, 1, 500000, 0, 0}},
		// The second request waits behind the first: delay 0.5 s.
		{"leaky_bucket", []string{"5", "500000", "1", "2", "1", "1"}, []int64{1, 0, 1000000, 0, 500000}},
		{"concurrency", []string{"6", "1000000", "2", "lease-1", "1", "1"}, []int64{1, 1, 1000000, 0, 0}},
	} {
		got := eval(c.script, []string{"raw:{a}:" + c.script}, append([]string{now, "0"}, c.args...)...)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.script, got, c.want)
		}
	}
	// Mode 3 releases the lease.
	if got := eval("concurrency", []string{"raw:{a}:concurrency"}, now, "3", "6", "1000000", "2", "lease-1", "1", "0"); fmt.Sprint(got) != "[1]" {
		t.Errorf("concurrency release = %v, want [1]", got)
	}
	// fixed_window 1/min: the window [now, now+60s) has room for one.
	got = eval("fixed_window", []string{"raw:{a}:fw"}, now, "0", "2", "60000000", "1", "0", "1", "1")
	if fmt.Sprint(got) != fmt.Sprint([]int64{1, 0, 60000000, 0, 0}) {
		t.Errorf("fixed_window = %v", got)
	}
	got = eval("fixed_window", []string{"raw:{a}:fw"}, now, "0", "2", "60000000", "1", "0", "1", "1")
	if fmt.Sprint(got) != fmt.Sprint([]int64{0, 0, 60000000, 60000000, 0}) {
		t.Errorf("fixed_window denied = %v", got)
	}
	// multi, all or nothing: the fixed window denies, so GCRA is not charged.
	got = eval("multi", []string{"raw:{a}:gcra", "raw:{a}:fw"}, now, "1", "0", "500000", "1", "2", "1", "1", "2", "60000000", "1", "0", "1", "1")
	if fmt.Sprint(got) != fmt.Sprint([]int64{0, 1, 500000, 0, 0, 0, 0, 60000000, 60000000, 0}) {
		t.Errorf("multi = %v", got)
	}
	// A batch: one run of three items under GCRA 2/s, the first two on one
	// key. The second sees the first's write (the batch reads its keys with
	// one MGET up front) and takes the last unit; the third key is fresh.
	got = eval("multi", []string{"raw:{b}:g", "raw:{b}:g", "raw:{b}:h"}, now, "0", "0", "500000", "1", "2", "3", "1", "1", "1")
	if fmt.Sprint(got) != fmt.Sprint([]int64{1, 1, 500000, 0, 0, 1, 0, 1000000, 0, 0, 1, 1, 500000, 0, 0}) {
		t.Errorf("multi batch = %v", got)
	}
	// Every script rejects an algorithm it does not hold, and items that do
	// not match the KEYS, before touching anything.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"1", "raw:{a}:x", now, "0", "2", "1", "1", "1", "1", "1"}, "has no algorithm 2"},                        // gcra given fixed_window
		{[]string{"1", "raw:{a}:x", now, "0", "0", "1", "1", "1", "2", "1"}, "not match the KEYS"},                        // a run of 2 for 1 key
		{[]string{"2", "raw:{a}:x", "raw:{a}:y", now, "0", "0", "1", "1", "1", "1", "1"}, "do not match the KEYS"},        // 1 item for 2 keys
		{[]string{"1", "raw:{a}:x", now, "0", "0", "1", "1", "1", "1", "1", "0", "1", "1", "1"}, "do not match the KEYS"}, // ARGV left over
	} {
		cmd := append([]string{"EVAL", smartlimit.Scripts()[0].Source}, c.args...)
		if err := rc.Do(ctx, rc.B().Arbitrary(cmd[0]).Args(cmd[1:]...).Build()).Error(); err == nil || !strings.Contains(err.Error(), "smartlimit") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("gcra script given %q: err = %v, want one saying %q", c.args, err, c.want)
		}
	}
	if n, err := rc.Do(ctx, rc.B().Exists().Key("raw:{a}:x", "raw:{a}:y").Build()).AsInt64(); n != 0 || err != nil {
		t.Errorf("bad calls wrote %d keys (%v)", n, err)
	}
}

func TestWait(t *testing.T) {
	s := smartlimittest.New(t)
	// Wait sleeps in real time, while miniredis' TIME stands still: use the
	// client's clock.
	l := smartlimit.Limit{Rate: 1, Period: 50 * time.Millisecond}
	c, err := smartlimit.New(s.Redis, smartlimit.WithClientClock(nil), smartlimit.WithPrefix("wait"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Wait(ctx, "k", l); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx, "k", l); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the second unit cannot pass sooner than 50ms after
	// the first, however slow the machine.
	if waited := time.Since(start); waited < 49*time.Millisecond {
		t.Errorf("two Waits returned after %v; the limit allows one per 50ms", waited)
	}
	// A deadline long enough for a round trip on a loaded machine, short of
	// the wait: Wait gives up at once.
	slow := smartlimit.Limit{Rate: 1, Period: time.Hour}
	if err := c.Wait(ctx, "k2", slow); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Wait(short, "k2", slow); !errors.Is(err, smartlimit.ErrWouldExceedDeadline) {
		t.Errorf("Wait with a 10s deadline for an hour's wait = %v, want ErrWouldExceedDeadline", err)
	}
	if err := smartlimit.WaitN(ctx, c, "k", l, 2); !errors.Is(err, smartlimit.ErrNeverAllowed) {
		t.Errorf("WaitN(2) on burst 1 = %v, want ErrNeverAllowed", err)
	}
}

// A key of another type under a check's Redis key fails the check with
// WRONGTYPE and is left as it was, whether it is checked alone or in a batch
// (where MGET reads it as absent).
func TestForeignKeyType(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		// A standalone client, so that the batch is one script call.
		testForeignKeyType(t, singleClient(t, smartlimittest.New(t).Miniredis.Addr()))
	})
	t.Run("redis-server", func(t *testing.T) { testForeignKeyType(t, redistest.Start(t).Client(t)) })
}

func testForeignKeyType(t *testing.T, rc rueidis.Client) {
	for _, a := range allAlgorithms() {
		t.Run(a.String(), func(t *testing.T) {
			c, err := smartlimit.New(rc, smartlimit.WithPrefix(fmt.Sprint("f", time.Now().UnixNano())))
			if err != nil {
				t.Fatal(err)
			}
			l := smartlimit.Limit{Algorithm: a, Rate: 10, Period: time.Minute}
			rk, _ := c.Key("victim", l)
			const foreign = "LIST"
			if err := rc.Do(ctx, rc.B().Rpush().Key(rk).Element("theirs").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			wrongType := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
					t.Errorf("%s: %v, want WRONGTYPE", what, err)
				}
			}
			_, err = c.Allow(ctx, "victim", l)
			wrongType("alone", err)
			_, err = c.AllowMany(ctx, []smartlimit.Request{{Key: "before", Limit: l, Cost: 1}, {Key: "victim", Limit: l, Cost: 1}, {Key: "after", Limit: l, Cost: 1}})
			wrongType("in a batch", err)
			if a == smartlimit.Concurrency {
				return // AllowAll takes no Concurrency limits
			}
			// All or nothing charges nothing when it fails so, even for the
			// limits decided before the one whose key holds another type.
			first := smartlimit.Limit{Algorithm: smartlimit.GCRA, Rate: 10, Period: time.Second}
			_, err = c.AllowAll(ctx, "victim", 1, first, l)
			wrongType("all or nothing", err)
			if r, err := c.Peek(ctx, "victim", first); err != nil || r.Remaining != 10 {
				t.Errorf("the other limit after a failed AllowAll: %+v %v, want nothing charged", r, err)
			}
			if typ, err := rc.Do(ctx, rc.B().Type().Key(rk).Build()).ToString(); err != nil || strings.ToUpper(typ) != foreign {
				t.Errorf("the foreign key is now a %q (%v), want it kept", typ, err)
			}
		})
	}
}

// One check does bounded work, whatever its cost: a sliding window keeps
// one member per accepted request, not per unit, so a check of cost 10^6
// (or 10^9) is one ZADD, not 10^6 sorted-set entries that keep Redis busy
// for seconds. The exact count still holds across such checks.
func TestSlidingWindowHugeCost(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) { testSlidingWindowHugeCost(t, smartlimittest.New(t).Redis) })
	t.Run("redis-server", func(t *testing.T) { testSlidingWindowHugeCost(t, redistest.Start(t).Client(t)) })
}

func testSlidingWindowHugeCost(t *testing.T, rc rueidis.Client) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := smartlimit.New(rc, smartlimit.WithClientClock(func() time.Time { return now }), smartlimit.WithPrefix(fmt.Sprint("h", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	l := smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 1 << 40, Period: time.Minute}
	key, _ := c.Key("k", l)
	members := func(want int64) {
		t.Helper()
		if n, err := rc.Do(ctx, rc.B().Zcard().Key(key).Build()).AsInt64(); err != nil || n != want {
			t.Fatalf("ZCARD %s = %d, %v; want %d, one member per accepted request", key, n, err, want)
		}
	}
	if _, err := c.AllowN(ctx, "k", l, 10_000); err != nil {
		t.Fatal(err)
	}
	members(1)
	now = now.Add(time.Second)
	steps := []struct {
		cost      int64
		allowed   bool
		remaining int64
	}{
		{1_000_000_000, true, 1<<40 - 1_000_010_000},
		{1<<40 - 1_000_010_000, true, 0},
		{1, false, 0},
	}
	for i, st := range steps {
		r, err := c.AllowN(ctx, "k", l, st.cost)
		if err != nil || r.Allowed != st.allowed || r.Remaining != st.remaining {
			t.Fatalf("step %d: AllowN(cost %d) = %+v, %v; want allowed %v, Remaining %d", i, st.cost, r, err, st.allowed, st.remaining)
		}
		now = now.Add(time.Second)
	}
	members(3)
	// A minute after the second check, the first two checks' units have
	// left the window, at once.
	now = time.Date(2030, 1, 1, 0, 1, 1, 0, time.UTC)
	if r, err := c.AllowN(ctx, "k", l, 1_000_000_000); err != nil || !r.Allowed || r.Remaining != 10_000 {
		t.Fatalf("a minute on: AllowN = %+v, %v; want allowed, Remaining 10000", r, err)
	}
}

// "hw" is the member that holds a concurrency key's newest lease time, not
// a lease: releasing it by that ID releases nothing, and the key's time
// still does not run back.
func TestReleaseLeaseHW(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 1, 40, 0, time.UTC)
	s := smartlimittest.New(t, smartlimit.WithClientClock(func() time.Time { return now }))
	l := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: 10 * time.Second}
	if _, r, err := s.Client.Acquire(ctx, "k", l); err != nil || !r.Allowed {
		t.Fatalf("Acquire = %+v, %v", r, err)
	}
	if held, err := s.Client.ReleaseLease(ctx, "k", l, "hw"); held || err != nil {
		t.Fatalf(`ReleaseLease("hw") = %v, %v; want false: no such lease`, held, err)
	}
	now = now.Add(-50 * time.Second) // a clock behind: decided at the newest lease's time
	if _, r, err := s.Client.Acquire(ctx, "k", l); err != nil || !r.Allowed || r.ResetAfter != 60*time.Second {
		t.Fatalf("Acquire 50 s behind = %+v, %v; want allowed, ResetAfter 60s", r, err)
	}
	now = now.Add(51 * time.Second)
	if _, r, err := s.Client.Acquire(ctx, "k", l); err != nil || r.Allowed {
		t.Fatalf("third Acquire with 2 in flight = %+v, %v; want denied", r, err)
	}
}
