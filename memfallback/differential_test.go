package memfallback_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/redistest"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/memfallback"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// The differential test feeds one random sequence of checks to the Lua
// scripts (on miniredis, and on a real redis-server when there is one) and
// to memfallback, and demands identical Results: Allowed, Limit and
// Remaining equal, every duration equal to the microsecond. Errors must be
// equal too (same message), so bad input is rejected alike. There is no
// tolerance anywhere: any difference is a bug in one of them.

// diffLimits are the limits a sequence draws from: every algorithm, odd
// rates (6/s, 7/s, 1000/7s) whose emission interval is not a whole number
// of µs, bursts that differ from the rate, and pairs that are one state in
// Redis (10/s, 20/2s and 10/s burst 10 share a key).
var diffLimits = []smartlimit.Limit{
	{Algorithm: smartlimit.GCRA, Rate: 10, Period: time.Second},
	{Algorithm: smartlimit.GCRA, Rate: 20, Period: 2 * time.Second},
	{Algorithm: smartlimit.GCRA, Rate: 10, Period: time.Second, Burst: 10},
	{Algorithm: smartlimit.GCRA, Rate: 6, Period: time.Second},
	{Algorithm: smartlimit.GCRA, Rate: 7, Period: time.Second, Burst: 3},
	{Algorithm: smartlimit.GCRA, Rate: 1000, Period: 7 * time.Second},
	{Algorithm: smartlimit.TokenBucket, Rate: 6, Period: time.Second},
	{Algorithm: smartlimit.TokenBucket, Rate: 7, Period: time.Second, Burst: 3},
	{Algorithm: smartlimit.TokenBucket, Rate: 1000, Period: 7 * time.Second, Burst: 50},
	{Algorithm: smartlimit.LeakyBucket, Rate: 7, Period: time.Second, Burst: 2},
	{Algorithm: smartlimit.LeakyBucket, Rate: 1, Period: time.Second, Burst: 3},
	{Algorithm: smartlimit.LeakyBucket, Rate: 6, Period: time.Second},
	{Algorithm: smartlimit.FixedWindow, Rate: 3, Period: time.Second},
	{Algorithm: smartlimit.FixedWindow, Rate: 7, Period: time.Second},
	{Algorithm: smartlimit.FixedWindow, Rate: 5, Period: 7 * time.Second},
	{Algorithm: smartlimit.FixedWindow, Rate: 1000, Period: 7 * time.Second},
	{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: time.Second},
	{Algorithm: smartlimit.SlidingWindow, Rate: 7, Period: time.Second},
	{Algorithm: smartlimit.SlidingWindow, Rate: 20, Period: 7 * time.Second},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 10, Period: time.Second},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 7, Period: time.Second},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 6, Period: time.Second},
	{Algorithm: smartlimit.SlidingWindowCounter, Rate: 1000, Period: 7 * time.Second},
	{Algorithm: smartlimit.Concurrency, Rate: 2, Period: 10 * time.Second},
	{Algorithm: smartlimit.Concurrency, Rate: 3, Period: time.Second},
}

var diffKeys = []string{"a", "b"}

// Kinds of operation in a sequence.
const (
	opAllowN = iota
	opPeek
	opAllowAll
	opReset
)

var opNames = [...]string{"AllowN", "Peek", "AllowAll", "Reset"}

// diffOp is one step of a sequence: advance the clock, then call.
type diffOp struct {
	kind    int
	advance time.Duration
	key     string
	limits  []smartlimit.Limit // one, or 1 to 3 for AllowAll
	cost    int64
}

func (o diffOp) String() string {
	return fmt.Sprintf("+%v %s(%q, %v, cost %d)", o.advance, opNames[o.kind], o.key, o.limits, o.cost)
}

// byteSource hands out choices from a byte string; past its end every
// choice is 0.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) intn(n int) int {
	if s.i >= len(s.b) {
		return 0
	}
	v := int(s.b[s.i])
	s.i++
	if n > 256 { // two bytes for large ranges
		v = v<<8 | s.intn(256)
	}
	return v % n
}

// decodeOps turns bytes into at most max operations. Every byte string is
// a valid sequence, so the fuzzer can mutate freely. With back, some steps
// move the clock backwards.
func decodeOps(b []byte, max int, back bool) []diffOp {
	src := &byteSource{b: b}
	// Each sequence works on a palette of a few limits, so that its checks
	// meet each other's state instead of spreading thin.
	var palette [4]smartlimit.Limit
	for i := range palette {
		palette[i] = diffLimits[src.intn(len(diffLimits))]
	}
	var ops []diffOp
	for src.i < len(b) && len(ops) < max {
		var o diffOp
		switch a := src.intn(32); { // mostly small steps, to land near boundaries
		case a < 11:
		case a < 12:
			if back {
				// A clock that steps back: time must not run backwards
				// for a key, alike in every tier.
				o.advance = -time.Duration(src.intn(300))*time.Millisecond - time.Duration(src.intn(1000))*time.Microsecond
			}
		case a < 16:
			o.advance = time.Duration(src.intn(1000)) * time.Microsecond
		case a < 24:
			o.advance = time.Duration(src.intn(50))*time.Millisecond + time.Duration(src.intn(1000))*time.Microsecond
		case a < 30:
			o.advance = time.Duration(src.intn(10))*100*time.Millisecond + time.Duration(src.intn(1000))*time.Microsecond
		case a < 31:
			o.advance = time.Duration(src.intn(10000)) * time.Millisecond
		default:
			o.advance = time.Duration(src.intn(30)) * time.Second
		}
		switch k := src.intn(20); {
		case k < 13:
			o.kind = opAllowN
		case k < 16:
			o.kind = opPeek
		case k < 19:
			o.kind = opAllowAll
		default:
			o.kind = opReset
		}
		o.key = diffKeys[src.intn(len(diffKeys))]
		o.limits = []smartlimit.Limit{palette[src.intn(len(palette))]}
		if o.kind == opAllowAll {
			// Mostly distinct, non-Concurrency limits; sometimes anything,
			// since repeated and Concurrency limits must be errors on all
			// sides.
			anything := src.intn(8) == 0
			for range src.intn(3) {
				l := palette[src.intn(len(palette))]
				if anything || (l.Algorithm != smartlimit.Concurrency && !slices.Contains(o.limits, l)) {
					o.limits = append(o.limits, l)
				}
			}
			if !anything && o.limits[0].Algorithm == smartlimit.Concurrency && len(o.limits) > 1 {
				o.limits = o.limits[1:]
			}
		}
		capacity := o.limits[0].Capacity()
		switch c := src.intn(16); {
		case c == 0:
			o.cost = 0
		case c <= 8:
			o.cost = 1
		case c <= 12:
			o.cost = 2 + int64(src.intn(3))
		case c == 13:
			o.cost = capacity
		case c == 14:
			o.cost = capacity + 1 // never fits
		default:
			o.cost = int64(src.intn(int(capacity)+3)) - 1 // anything, -1 included
		}
		ops = append(ops, o)
	}
	return ops
}

// diffBackend is one side of the comparison.
type diffBackend struct {
	name string
	lim  interface {
		smartlimit.Limiter
		smartlimit.Peeker
		smartlimit.MultiLimiter
	}
	set   func(time.Time)
	after func(ctx context.Context, o diffOp) error // run after each op; may be nil
}

func (b *diffBackend) do(ctx context.Context, o diffOp) (smartlimit.Result, error) {
	var (
		r   smartlimit.Result
		err error
	)
	switch o.kind {
	case opAllowN:
		r, err = b.lim.AllowN(ctx, o.key, o.limits[0], o.cost)
	case opPeek:
		r, err = b.lim.Peek(ctx, o.key, o.limits[0])
	case opAllowAll:
		r, err = b.lim.AllowAll(ctx, o.key, o.cost, o.limits...)
	case opReset:
		err = b.lim.Reset(ctx, o.key, o.limits[0])
	}
	if err == nil && b.after != nil {
		err = b.after(ctx, o)
	}
	r.Tier = "" // the one field that differs by design
	return r, err
}

// runDiff runs ops on every backend and fails on the first difference.
func runDiff(t *testing.T, label string, ops []diffOp, backends []*diffBackend) {
	t.Helper()
	ctx := context.Background()
	now := limitertest.T0
	for _, b := range backends {
		b.set(now)
	}
	for i, o := range ops {
		now = now.Add(o.advance)
		ref, refErr := Result{}, error(nil)
		for j, b := range backends {
			b.set(now)
			r, err := b.do(ctx, o)
			if j == 0 {
				ref, refErr = r, err
				continue
			}
			if r != ref || fmt.Sprint(err) != fmt.Sprint(refErr) {
				t.Fatalf("%s: op %d at T0+%v: %v\n\t%s: %+v, %v\n\t%s: %+v, %v\n(history: %v)",
					label, i, now.Sub(limitertest.T0), o, backends[0].name, ref, refErr, b.name, r, err, ops[:i])
			}
		}
	}
}

// Result is a short name in this file.
type Result = smartlimit.Result

func memBackend(t testing.TB) *diffBackend {
	s, c := newStore(t, memfallback.Options{})
	return &diffBackend{name: "mem", lim: s, set: c.Set}
}

func miniredisBackend(t testing.TB) *diffBackend {
	s := smartlimittest.New(t)
	return &diffBackend{name: "lua@miniredis", lim: s.Client, set: s.SetTime}
}

// persistentMiniredisBackend is the scripts on miniredis with every touched
// key made persistent, for sequences whose clock steps back. A key that
// expired while the clock was ahead is gone when it steps back, where
// memfallback keeps the entry until a sweep, which then decides stricter:
// both are right, and only keeping every state makes them comparable.
func persistentMiniredisBackend(t testing.TB) *diffBackend {
	s := smartlimittest.New(t)
	return &diffBackend{name: "lua@miniredis", lim: s.Client, set: s.SetTime, after: persist(s.Redis, s.Client)}
}

// realRedis returns a client of a real redis-server that the test starts,
// or nil when none is installed (unless redistest.RequireEnv demands one).
func realRedis(tb testing.TB) rueidis.Client {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv(redistest.RequireEnv) == "" && os.Getenv(redistest.AddrEnv) == "" {
		tb.Logf("no redis-server on PATH: comparing with miniredis only")
		return nil
	}
	return redistest.Start(tb).Client(tb)
}

// realRedisBackend is the scripts on a real Redis, driven by the test's
// clock through WithClientClock. Real Redis expires keys by its own clock,
// which the fake one outruns or lags, so after each call the touched keys
// are made persistent: a state whose time is up decides exactly as an
// absent key (memfallback keeps such entries until a sweep, too), and key
// expiry itself is checked on miniredis, whose clock the test sets.
func realRedisBackend(t testing.TB, rc rueidis.Client, prefix string) *diffBackend {
	var now time.Time
	c, err := smartlimit.New(rc, smartlimit.WithPrefix(prefix), smartlimit.WithClientClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return &diffBackend{name: "lua@redis-server", lim: c, set: func(t time.Time) { now = t }, after: persist(rc, c)}
}

// persist returns an after function that removes the TTLs of the keys that
// an operation touched.
func persist(rc rueidis.Client, c *smartlimit.Client) func(ctx context.Context, o diffOp) error {
	return func(ctx context.Context, o diffOp) error {
		for _, l := range o.limits {
			k, err := c.Key(o.key, l)
			if err != nil {
				return nil // bad input: nothing was written
			}
			if err := rc.Do(ctx, rc.B().Persist().Key(k).Build()).Error(); err != nil {
				return err
			}
		}
		return nil
	}
}

// seededOps returns the sequence of a seed: n operations from a PCG, with
// steps back when back is set.
func seededOps(seed uint64, n int, back bool) []diffOp {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, 16*n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return decodeOps(b, n, back)
}

// TestDifferential runs fixed seeds plus one new seed per run, printed so
// that a failure can be replayed with SMARTLIMIT_DIFF_SEED.
func TestDifferential(t *testing.T) {
	const opsPerSeed = 250
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if v := os.Getenv("SMARTLIMIT_DIFF_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SMARTLIMIT_DIFF_SEED=%q: %v", v, err)
		}
		seeds = []uint64{seed}
	} else {
		seeds = append(seeds, rand.Uint64())
	}
	rc := realRedis(t)
	for _, seed := range seeds {
		t.Logf("seed %d (replay: SMARTLIMIT_DIFF_SEED=%d go test -run TestDifferential ./memfallback)", seed, seed)
		backends := []*diffBackend{miniredisBackend(t), memBackend(t)}
		if rc != nil {
			backends = append(backends, realRedisBackend(t, rc, "diff"+strconv.FormatUint(seed, 10)))
		}
		runDiff(t, fmt.Sprintf("seed %d", seed), seededOps(seed, opsPerSeed, false), backends)
		backends = []*diffBackend{persistentMiniredisBackend(t), memBackend(t)}
		if rc != nil {
			backends = append(backends, realRedisBackend(t, rc, "back"+strconv.FormatUint(seed, 10)))
		}
		runDiff(t, fmt.Sprintf("seed %d, clock steps back", seed), seededOps(seed, opsPerSeed, true), backends)
	}
}

// FuzzDifferential compares the scripts and memfallback on sequences the
// fuzzer mutates. Without -fuzz it runs the seed corpus only. To fuzz:
//
//	go test -run XXX -fuzz FuzzDifferential -fuzzminimizetime 5x -parallel 1 ./memfallback
//
// (the default minimization, up to a minute per new input, would take most
// of the time: every input runs real Lua.)
func FuzzDifferential(f *testing.F) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 0xf022))
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	// One server of each kind for the whole run, a key prefix per input:
	// starting servers per input would dominate the fuzzer's time.
	mini := smartlimittest.New(f)
	rc := realRedis(f)
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		prefix := "fuzz" + strconv.Itoa(n) + "-" + strconv.FormatUint(rand.Uint64(), 36)
		c, err := smartlimit.New(mini.Redis, smartlimit.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		backends := []*diffBackend{{name: "lua@miniredis", lim: c, set: mini.SetTime}, memBackend(t)}
		if rc != nil {
			backends = append(backends, realRedisBackend(t, rc, prefix))
		}
		runDiff(t, "fuzz input", decodeOps(data, 100, false), backends)
	})
}

// A sliding window's cumulative counts wrap at 2^52 (algo.LogModulus): a
// limit of 2^50 a window reaches it in eight full halves. The tiers must
// agree across the wrap, also for two entries at one instant on either side
// of it, and for denials, whose RetryAfter a search over the counts finds.
func TestDifferentialSlidingWindowWrap(t *testing.T) {
	l := []smartlimit.Limit{{Algorithm: smartlimit.SlidingWindow, Rate: 1 << 50, Period: time.Hour}}
	half := time.Hour / 2
	var ops []diffOp
	for range 7 {
		ops = append(ops, diffOp{kind: opAllowN, advance: half, key: "w", limits: l, cost: 1 << 49})
	}
	ops = append(ops,
		diffOp{kind: opAllowN, advance: half, key: "w", limits: l, cost: 1 << 48},
		diffOp{kind: opAllowN, key: "w", limits: l, cost: 1 << 48}, // through 2^52, at the same instant
		diffOp{kind: opAllowN, key: "w", limits: l, cost: 1},       // denied: the window is full
		diffOp{kind: opPeek, advance: time.Minute, key: "w", limits: l},
		diffOp{kind: opAllowN, advance: half - time.Minute, key: "w", limits: l, cost: 1 << 48},
		diffOp{kind: opAllowN, key: "w", limits: l, cost: 1<<49 + 1}, // denied until both of the wrap's instant leave
		diffOp{kind: opAllowN, advance: half, key: "w", limits: l, cost: 1 << 49},
		diffOp{kind: opAllowN, advance: time.Hour, key: "w", limits: l, cost: 1 << 50},
	)
	backends := []*diffBackend{miniredisBackend(t), memBackend(t)}
	if rc := realRedis(t); rc != nil {
		backends = append(backends, realRedisBackend(t, rc, "wrap"))
	}
	runDiff(t, "wrap", ops, backends)
	// And the last check saw a full window's worth admitted: the count is
	// right after the wrap.
	r, err := backends[0].lim.Peek(context.Background(), "w", l[0])
	if err != nil || r.Remaining != 0 || r.Allowed {
		t.Errorf("after the wrap: Peek = %+v, %v; want Remaining 0", r, err)
	}
}

// runOps runs ops on b from T0 and returns every Result.
func runOps(t *testing.T, b *diffBackend, ops []diffOp) []Result {
	t.Helper()
	now := limitertest.T0
	var out []Result
	for _, o := range ops {
		now = now.Add(o.advance)
		b.set(now)
		r, err := b.do(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v: %v", b.name, o, err)
		}
		out = append(out, r)
	}
	return out
}

// slidingWindowEdges are sequences on which the sliding window's count
// once went wrong (clocks behind a check that dropped entries, which an
// earlier v5 draft did on every check), each with the Result its last step
// must give. Every tier must give it, and the same Results on the way.
var slidingWindowEdges = []struct {
	name  string
	limit smartlimit.Limit
	ops   func(l []smartlimit.Limit) []diffOp
	want  Result
}{
	{
		// A check at 10.7 s, then a clock 200 ms behind it (not behind the
		// newest entry): the window (9.5s, 10.5s] holds 2. The count once
		// took the key's whole history: Remaining -23.
		name:  "step back after a check",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: time.Second},
		ops: func(l []smartlimit.Limit) []diffOp {
			var ops []diffOp
			for i := range 26 { // 0s, 0.4s, …, 10s
				ops = append(ops, diffOp{kind: opAllowN, advance: time.Duration(min(i, 1)) * 400 * time.Millisecond, key: "n", limits: l, cost: 1})
			}
			return append(ops,
				diffOp{kind: opAllowN, advance: 700 * time.Millisecond, key: "n", limits: l, cost: 0},
				diffOp{kind: opAllowN, advance: -200 * time.Millisecond, key: "n", limits: l, cost: 0})
		},
		want: Result{Allowed: true, Limit: 3, Remaining: 1, ResetAfter: 500 * time.Millisecond},
	},
	{
		// 70 entries out of the window at once (Redis drops at most 64 a
		// call, Go all of them), then a clock behind that check: the window
		// (68.5ms, 1068.5ms] holds the entry at 69 ms.
		name:  "more out of the window than one call drops",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 100, Period: time.Second},
		ops: func(l []smartlimit.Limit) []diffOp {
			var ops []diffOp
			for i := range 70 { // 0ms … 69ms
				ops = append(ops, diffOp{kind: opAllowN, advance: time.Duration(min(i, 1)) * time.Millisecond, key: "k", limits: l, cost: 1})
			}
			return append(ops,
				diffOp{kind: opAllowN, advance: 1931 * time.Millisecond, key: "k", limits: l, cost: 0},
				diffOp{kind: opAllowN, advance: -931500 * time.Microsecond, key: "k", limits: l, cost: 0})
		},
		want: Result{Allowed: true, Limit: 100, Remaining: 99, ResetAfter: 500 * time.Microsecond},
	},
	{
		// A peek at 1.6 s, then a clock behind it: the window (0.2s, 1.2s]
		// holds the 2 units of 0.5 s. memfallback's peek once dropped them
		// with the entry it took back.
		name:  "step back after a peek",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: time.Second},
		ops: func(l []smartlimit.Limit) []diffOp {
			return []diffOp{
				{kind: opAllowN, key: "p", limits: l, cost: 1},
				{kind: opAllowN, advance: 500 * time.Millisecond, key: "p", limits: l, cost: 2},
				{kind: opPeek, advance: 1100 * time.Millisecond, key: "p", limits: l},
				{kind: opAllowN, advance: -400 * time.Millisecond, key: "p", limits: l, cost: 2},
			}
		},
		want: Result{Limit: 3, Remaining: 1, ResetAfter: 300 * time.Millisecond, RetryAfter: 300 * time.Millisecond},
	},
	{
		// The same, with an accepted request at 2 s, which drops entries:
		// the step back then decides at 2 s.
		name:  "more out of the window than one call drops, accepted",
		limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 100, Period: time.Second},
		ops: func(l []smartlimit.Limit) []diffOp {
			var ops []diffOp
			for i := range 70 {
				ops = append(ops, diffOp{kind: opAllowN, advance: time.Duration(min(i, 1)) * time.Millisecond, key: "k", limits: l, cost: 1})
			}
			return append(ops,
				diffOp{kind: opAllowN, advance: 1931 * time.Millisecond, key: "k", limits: l, cost: 1},
				diffOp{kind: opAllowN, advance: -931500 * time.Microsecond, key: "k", limits: l, cost: 0})
		},
		want: Result{Allowed: true, Limit: 100, Remaining: 99, ResetAfter: 1931500 * time.Microsecond},
	},
}

func TestDifferentialSlidingWindowEdges(t *testing.T) {
	rc := realRedis(t)
	for i, tc := range slidingWindowEdges {
		t.Run(tc.name, func(t *testing.T) {
			// Persistent keys: the clock steps back over keys' expiry.
			backends := []*diffBackend{persistentMiniredisBackend(t), memBackend(t)}
			if rc != nil {
				backends = append(backends, realRedisBackend(t, rc, fmt.Sprint("edge", i)))
			}
			ops := tc.ops([]smartlimit.Limit{tc.limit})
			runDiff(t, tc.name, ops, backends)
			if rs := runOps(t, memBackend(t), ops); rs[len(rs)-1] != tc.want {
				t.Errorf("last step = %+v, want %+v", rs[len(rs)-1], tc.want)
			}
		})
	}
}

// After the counts wrap at 2^52, a clock behind the check that dropped
// entries must still see the window's units: here the window (2h45m, 3h45m]
// already holds 2^50, the limit, and another 2^50 once passed.
func TestDifferentialSlidingWindowWrapStepBack(t *testing.T) {
	const R = 1 << 50
	l := []smartlimit.Limit{{Algorithm: smartlimit.SlidingWindow, Rate: R, Period: time.Hour}}
	var ops []diffOp
	for i := range 8 { // 0h, 0h30, …, 3h30: the 8th reaches 2^52
		ops = append(ops, diffOp{kind: opAllowN, advance: time.Duration(min(i, 1)) * 30 * time.Minute, key: "w", limits: l, cost: R / 2})
	}
	ops = append(ops,
		diffOp{kind: opAllowN, advance: 45 * time.Minute, key: "w", limits: l, cost: 0},
		diffOp{kind: opAllowN, advance: -30 * time.Minute, key: "w", limits: l, cost: R})
	backends := []*diffBackend{persistentMiniredisBackend(t), memBackend(t)}
	if rc := realRedis(t); rc != nil {
		backends = append(backends, realRedisBackend(t, rc, "wrapback"))
	}
	runDiff(t, "wrap, step back", ops, backends)
	if rs := runOps(t, memBackend(t), ops); rs[len(rs)-1].Allowed {
		t.Errorf("cost 2^50 into a window holding 2^50: %+v, want denied", rs[len(rs)-1])
	}
}
