// Package memfallback is smartlimit's in-process tier: the same algorithms
// as the Lua scripts, over a sharded, bounded table in memory.
//
// It serves single-process services, tests and edge caches on its own, and
// stands last behind Redis and MongoDB in a failover chain. It decides
// exactly as the scripts do (both run smartlimit/internal/algo's integer
// formulas), so a failover changes where state lives, not what a limit
// means. Quick start:
//
//	s, _ := memfallback.New(memfallback.Options{})
//	defer s.Close()
//	r, err := s.AllowN(ctx, "alice", smartlimit.PerSecond(10), 1)
//
// Memory is bounded by Options.MaxKeys. Only entries that are back to their
// full, unused state are ever dropped, so a flood of new keys cannot reset
// the limit of a key that is over it; see Options.OnFull for what a new key
// gets when there is no room.
package memfallback

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// Defaults of the Options fields.
const (
	// DefaultShards is the default value of Options.Shards.
	DefaultShards = 64
	// DefaultMaxKeys is the default value of Options.MaxKeys.
	DefaultMaxKeys = 1_000_000
	// DefaultSweepInterval is the default value of Options.SweepInterval.
	DefaultSweepInterval = 10 * time.Second
	// DefaultLocalShare is the default value of Options.LocalShare: the
	// whole limit.
	DefaultLocalShare = 1.0
)

// evictSample is how many entries a full shard inspects for a replenished
// one when a new key needs room. A bound, so that a flood of new keys
// against a full shard costs each of them a fixed amount of work under the
// lock instead of a scan of the shard; the janitor does the full sweeps.
const evictSample = 16

// ErrFull is returned, with Options.OnFull set to ErrorWhenFull, by a check
// that would store a new key in a store that has no room for it: every
// entry of the key's shard is still in use. Nothing was consumed. It
// matches smartlimit.ErrNotDecided: a full table is the condition of that
// request, so a failover coordinator asks its next tier and the store's
// breaker stays closed for the keys it holds.
var ErrFull = fmt.Errorf("smartlimit: memfallback: store full (no replenished entry to evict): %w", smartlimit.ErrNotDecided)

// FullPolicy says what a check that needs room for a new key gets when the
// store is full. Existing keys are never affected.
type FullPolicy uint8

const (
	// DenyWhenFull, the zero FullPolicy, denies the request with a Result
	// whose Allowed is false, Remaining 0, ResetAfter 0 and RetryAfter the
	// sweep interval (when room may next appear); Limit and Tier are set
	// as for any Result. Callers cannot tell it from an ordinary denial,
	// which is the point: the store stays closed under a flood.
	DenyWhenFull FullPolicy = iota
	// ErrorWhenFull returns ErrFull instead, so that a caller (a failover
	// coordinator, say) can decide for itself.
	ErrorWhenFull
)

// Options configures a Store. The zero Options is ready to use: every zero
// field means its default.
type Options struct {
	// Clock returns the time of every check. Default: the wall clock at New
	// plus the monotonic time since. Tests pass a settable clock. Time is
	// taken in whole microseconds (UnixMicro), as the scripts take Redis
	// TIME. A check may call Clock while it holds one of the Store's locks,
	// so Clock must not call the Store. Racing checks of one key may read
	// it in one order and reach the key in the other; the algorithms never
	// let a key's time run backwards, which makes such a check stricter,
	// never looser. (Concurrency limits read it under the key's lock, in
	// order: a lease granted at a stale time would end early.)
	Clock func() time.Time
	// Shards is the number of independently locked parts of the table of
	// keys (locked to add or remove a key, not to check one), rounded
	// up to a power of two and lowered to at most MaxKeys. Default
	// DefaultShards.
	Shards int
	// MaxKeys bounds the entries held (one per key and limit). Each shard
	// holds MaxKeys/Shards, so a shard can be full before the store is.
	// Default DefaultMaxKeys.
	MaxKeys int
	// OnFull is what a new key gets when its shard is full and holds no
	// replenished entry to evict. Default DenyWhenFull.
	OnFull FullPolicy
	// SweepInterval is how often a background goroutine drops the entries
	// that are back to their full state. Default DefaultSweepInterval; a
	// negative value disables the janitor (Sweep can still be called).
	SweepInterval time.Duration
	// LocalShare is the fraction of every limit this store applies, in
	// (0, 1]: with N replicas each falling back to its own memory, 1/N keeps
	// the sum near the global limit. It is taken as the first convergent of
	// its continued fraction that is the same float64, so 1.0/3 is 1/3.
	//
	// The capacity c (Burst, or Rate when Burst is 0 and for the window
	// and Concurrency algorithms) becomes ⌊c·share⌋, but at least 1. The
	// window and Concurrency algorithms keep Period, so their rate is that
	// capacity per window. GCRA, TokenBucket and LeakyBucket refill at
	// exactly share × Rate per Period when the exact arithmetic of every
	// tier can hold that fraction (at share 1/N, always unless c < N), and
	// otherwise at the closest rate below it that it can hold, or, when
	// even one unit per ⌊2^52/capacity⌋ µs (over 142 years ÷ capacity) is
	// faster, at that rate. Every limit that smartlimit.Limit.Validate
	// accepts works at every share.
	//
	// So N replicas at 1/N together hold a capacity in (c−N, max(c, N)]:
	// within N−1 units of the limit, 5/min on 20 replicas holding 20 units
	// at once (one each) where the limit holds 5. Together, bucket limits
	// refill at exactly the limit's rate when c ≥ N (5/min with Burst 20 on
	// 20 replicas: a unit every 4 minutes on each); when c < N, at no more
	// than it and, for periods up to 2^51 µs (71 years), less by under N
	// units per Period; except that no replica refills slower than one unit
	// per 2^52 µs, which is faster than its share only for limits of fewer
	// than N units per 142 years. Window limits admit at most max(Rate, N)
	// per window in all.
	// Default DefaultLocalShare (the whole limit).
	LocalShare float64
}

// Store is the in-process limiter. It is safe for simultaneous use by
// multiple goroutines. Create it with New and stop its janitor with Close.
//
// A Store keeps one entry per key and limit, identified as the Redis tier
// identifies its keys: by the key, the algorithm and the limit's reduced
// constants, so 10/s and 20/2s are one state and two different limits on one
// key are two. Results report Tier smartlimit.TierMemory and, as Limit, the
// capacity applied (after LocalShare). A check of a key and limit it holds
// finds the key without a lock, takes that key's lock only, and allocates
// nothing for the fixed-size algorithms (all but SlidingWindow, whose log
// grows with its rate, and Concurrency).
type Store struct {
	clock    func() time.Time // nil: start plus monotonic time (see now)
	start    time.Time
	startUS  int64 // start.UnixMicro()
	shards   []shard
	mask     uint64
	shardCap int
	onFull   FullPolicy
	shareNum *big.Int // LocalShare as shareNum/shareDen; nil for 1
	shareDen *big.Int
	fullWait time.Duration // RetryAfter of a DenyWhenFull denial
	seed     maphash.Seed

	// memo caches each Limit's validated, scaled Params, so that a warm
	// check pays neither validation nor the GCD of NewParams. Direct
	// mapped: a slot holds the last Limit that hashed to it.
	memo [memoSlots]atomic.Pointer[memo]

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

const memoSlots = 256

type memo struct {
	l smartlimit.Limit
	p algo.Params
}

// shard is one part of the key table, padded to its own cache line. Its
// mutex serialises changes to the table and to the set of entries a key
// holds; a check of an entry that already exists takes only its key's lock,
// so checks of different keys share no written memory. (A shard lock taken
// on every check bounced between cores: two goroutines over 10,000 keys ran
// slower than one.)
type shard struct {
	mu sync.Mutex
	t  atomic.Pointer[table] // replaced whole when rebuilt; changed only with mu held
	n  int                   // entries held; requires mu
	_  [40]byte
}

// table is an open-addressed hash table of one shard's keys that checks
// read without a lock. Writers hold the shard's mutex; they only fill empty
// slots and turn live ones into tombstones, and move to a new table when too
// few empty slots are left, so that a probe of any table, current or
// replaced, ends at an empty slot. A reader can therefore miss a key that is
// being added or has moved to a new table, which sends it to the locked
// path to look again; and it can find a key that was just removed, which
// its dead mark tells it (see keyState).
type table struct {
	tags []atomic.Uint64 // a slot's key's tag, or empty or tombstone
	kss  []atomic.Pointer[keyState]
	mask uint64
	live int // keys held; requires the shard's mu
	used int // keys and tombstones; requires the shard's mu
}

// Slot tags. A key's tag is its hash with the top bit set, so that it is
// neither of these.
const (
	emptyTag uint64 = 0
	tombTag  uint64 = 1
)

func tagOf(h uint64) uint64 { return h | 1<<63 }

// home is where a probe for tag starts: the hash's high half, as its low
// bits chose the shard.
func (t *table) home(tag uint64) uint64 { return tag >> 32 & t.mask }

func newTable(slots int) *table {
	return &table{tags: make([]atomic.Uint64, slots), kss: make([]atomic.Pointer[keyState], slots), mask: uint64(slots - 1)}
}

// candidate returns the first key in t with tag, or nil, without a lock
// and without reading the key's state: the caller compares the name once it
// holds the key's lock. Reading the name first would fetch the key's cache
// line, written by whichever core checked the key last, once to read and
// again to lock. With 64-bit tags a candidate is nearly always the key; a
// nil only says the key may be absent.
func (t *table) candidate(tag uint64) *keyState {
	for i := t.home(tag); ; i = (i + 1) & t.mask {
		switch t.tags[i].Load() {
		case emptyTag:
			return nil
		case tag:
			if ks := t.kss[i].Load(); ks != nil {
				return ks
			}
		}
	}
}

// find returns the key with tag and name key, or nil. Requires the shard's
// mu held.
func (t *table) find(tag uint64, key string) *keyState {
	for i := t.home(tag); ; i = (i + 1) & t.mask {
		switch t.tags[i].Load() {
		case emptyTag:
			return nil
		case tag:
			if ks := t.kss[i].Load(); ks != nil && ks.key == key {
				return ks
			}
		}
	}
}

// fill stores ks, whose tag is tag, in the first free slot of its probe and
// counts it. Requires the shard's mu held and ks's key absent from t.
func (t *table) fill(tag uint64, ks *keyState) {
	i := t.home(tag)
	for ; ; i = (i + 1) & t.mask {
		if tag := t.tags[i].Load(); tag == emptyTag || tag == tombTag {
			if tag == emptyTag {
				t.used++
			}
			break
		}
	}
	t.live++
	t.kss[i].Store(ks) // before the tag: a reader that matches the tag finds ks
	t.tags[i].Store(tag)
}

// rebuilt returns a new table holding t's keys, sized for live keys at
// most half full.
func (t *table) rebuilt(live int) *table {
	slots := 8
	for slots < 2*live {
		slots *= 2
	}
	nt := newTable(slots)
	for i := range t.kss {
		if ks := t.kss[i].Load(); ks != nil {
			nt.fill(t.tags[i].Load(), ks)
		}
	}
	return nt
}

// put adds ks, whose key sh does not hold and whose tag is tag, to sh's
// table, moving to a larger (or compacted) table first when the table would
// be more than three quarters used. Requires sh.mu held.
func (sh *shard) put(tag uint64, ks *keyState) {
	t := sh.t.Load()
	if (t.used+1)*4 > len(t.tags)*3 {
		t = t.rebuilt(t.live + 1)
		sh.t.Store(t)
	}
	t.fill(tag, ks)
}

// unlink removes ks, whose tag is tag and which has just been marked dead,
// from sh's table. Requires sh.mu held.
func (sh *shard) unlink(tag uint64, ks *keyState) {
	t := sh.t.Load()
	for i := t.home(tag); ; i = (i + 1) & t.mask {
		if t.kss[i].Load() == ks {
			t.tags[i].Store(tombTag)
			t.kss[i].Store(nil)
			t.live--
			return
		}
		if t.tags[i].Load() == emptyTag {
			panic("memfallback: unlink of a key the table does not hold")
		}
	}
}

// compact moves sh to a smaller table when tombstones outnumber its keys,
// so that the memory of a flood of keys is given back once they are swept.
// Requires sh.mu held.
func (sh *shard) compact() {
	if t := sh.t.Load(); len(t.tags) > 8 && t.used-t.live > t.live {
		sh.t.Store(t.rebuilt(t.live))
	}
}

// keyState holds one user key's entries, one per limit in use: nearly
// always one, so the first is inline and the others are chained from it.
// An entry is identified as the Redis key identifies state: by the
// algorithm and the limit's reduced constants (its Params), so 10/s and
// 20/2s share state, and different limits on one key do not.
//
// mu guards the entries. Changing which entries a key holds, or removing
// the key, also requires its shard's mu, taken first. A removed keyState is
// dead: its first entry's p is nil, and a check that reached it through a
// table without the shard lock looks again.
type keyState struct {
	mu    sync.Mutex
	key   string
	first entry
}

// dead reports whether ks was removed from its table. Requires ks.mu held.
func (ks *keyState) dead() bool { return ks.first.p == nil }

// find returns ks's entry for p, or nil. Requires ks.mu held and ks alive.
func (ks *keyState) find(p *algo.Params) *entry {
	for e := &ks.first; e != nil; e = e.next() {
		if e.p == p || *e.p == *p { // the same memo, nearly always
			return e
		}
	}
	return nil
}

// add stores a copy of e, an entry for a limit ks does not hold yet.
// Requires both locks held.
func (ks *keyState) add(e *entry) {
	ne := new(entry)
	*ne = *e
	ne.ext().next = ks.first.next()
	ks.first.ext().next = ne
}

// drop removes the entry *link points to, given as link = &prev.x.next or
// nil for the first; when that was the last entry ks is left dead.
// Requires both locks held.
func (ks *keyState) drop(link **entry) {
	if link == nil {
		if next := ks.first.next(); next != nil {
			ks.first = *next
		} else {
			ks.first = entry{}
		}
		return
	}
	*link = (*link).next()
}

// remove drops ks's entry for p, if it holds one, and reports whether it
// did. Requires both locks held.
func (ks *keyState) remove(p *algo.Params) bool {
	if *ks.first.p == *p {
		ks.drop(nil)
		return true
	}
	for prev := &ks.first; prev.next() != nil; prev = prev.x.next {
		if *prev.x.next.p == *p {
			ks.drop(&prev.x.next)
			return true
		}
	}
	return false
}

// dropExpired drops ks's entries that are back to their full state at now
// and returns how many it dropped. Requires both locks held.
func (ks *keyState) dropExpired(now int64) int {
	n := 0
	for prev := &ks.first; prev.next() != nil; {
		if prev.x.next.expired(now) {
			ks.drop(&prev.x.next)
			n++
		} else {
			prev = prev.x.next
		}
	}
	if ks.first.expired(now) {
		ks.drop(nil)
		n++
	}
	return n
}

// sweepKey drops ks's replenished entries and removes ks, whose tag is
// tag, when none is left; it skips held, a key the caller has locked. It
// returns how many entries it dropped. Requires sh.mu held.
func (sh *shard) sweepKey(tag uint64, ks, held *keyState, now int64) int {
	if ks == held {
		return 0
	}
	ks.mu.Lock()
	n := ks.dropExpired(now)
	if ks.dead() {
		sh.unlink(tag, ks)
	}
	ks.mu.Unlock()
	sh.n -= n
	return n
}

// entry is one key's state under one limit. Fixed-size algorithms use s;
// SlidingWindow and Concurrency use x. p points to the limit's memoised
// Params, which never change. Together they keep a keyState to 64 bytes,
// one cache line: a check writes one line, and a store full at 100,000
// keys holds less (TestFlood reports it).
type entry struct {
	p *algo.Params
	s algo.State
	x *ext // nil until the entry has a log, leases or a next entry
}

// next returns the key's entry after e, or nil.
func (e *entry) next() *entry {
	if e.x == nil {
		return nil
	}
	return e.x.next
}

// ext returns e.x, allocating it first if need be.
func (e *entry) ext() *ext {
	if e.x == nil {
		e.x = &ext{}
	}
	return e.x
}

// ext is what an entry holds beyond a fixed-size state: the state of the
// algorithms whose state grows with their rate, and the key's next entry.
type ext struct {
	log    algo.Log    // SlidingWindow
	leases algo.Leases // Concurrency
	hw     int64       // Concurrency: leases.HW before the last step, for undo
	next   *entry      // the key's next entry, for another limit
}

var _ interface {
	smartlimit.Limiter
	smartlimit.Peeker
	smartlimit.MultiLimiter
	smartlimit.MultiResultLimiter
	smartlimit.Leaser
} = (*Store)(nil)

// New returns a Store configured by opts, with its janitor running unless
// opts.SweepInterval is negative.
func New(opts Options) (*Store, error) {
	switch {
	case opts.Shards < 0:
		return nil, fmt.Errorf("smartlimit: memfallback: Shards %d is negative", opts.Shards)
	case opts.MaxKeys < 0:
		return nil, fmt.Errorf("smartlimit: memfallback: MaxKeys %d is negative", opts.MaxKeys)
	case opts.OnFull > ErrorWhenFull:
		return nil, fmt.Errorf("smartlimit: memfallback: unknown OnFull policy %d", opts.OnFull)
	case opts.LocalShare < 0 || opts.LocalShare > 1 || math.IsNaN(opts.LocalShare):
		return nil, fmt.Errorf("smartlimit: memfallback: LocalShare %v is not in (0, 1]", opts.LocalShare)
	}
	s := &Store{clock: opts.Clock, onFull: opts.OnFull, seed: maphash.MakeSeed()}
	if s.clock == nil {
		s.start = time.Now()
		s.startUS = s.start.UnixMicro()
	}
	if opts.LocalShare != 0 && opts.LocalShare != 1 {
		s.shareNum, s.shareDen = rationalShare(opts.LocalShare)
	}
	maxKeys, n := opts.MaxKeys, opts.Shards
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if n == 0 {
		n = DefaultShards
	}
	n = 1 << bits.Len(uint(n-1)) // a power of two, so a mask picks the shard
	for n > 1 && n > maxKeys {
		n /= 2
	}
	s.shards = make([]shard, n)
	for i := range s.shards {
		s.shards[i].t.Store(newTable(8))
	}
	s.mask = uint64(n - 1)
	s.shardCap = maxKeys / n
	every := opts.SweepInterval
	if every == 0 {
		every = DefaultSweepInterval
	}
	s.fullWait = every
	if every < 0 {
		s.fullWait = DefaultSweepInterval
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	if every > 0 {
		go s.janitor(every)
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops the janitor and waits for it to return. The Store keeps
// working after Close, without background sweeps. Close is idempotent and
// always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) janitor(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops every entry that is back to its full, unused state at the
// clock's now, one shard at a time, and returns how many it dropped. The
// janitor calls it every SweepInterval.
func (s *Store) Sweep() int {
	now := s.now()
	dropped := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		t := sh.t.Load()
		for j := range t.kss {
			if ks := t.kss[j].Load(); ks != nil {
				dropped += sh.sweepKey(t.tags[j].Load(), ks, nil, now)
			}
		}
		sh.compact()
		sh.mu.Unlock()
	}
	return dropped
}

// Len returns the number of entries held: one per key and limit in use.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// now returns the time of a check in µs since the Unix epoch. Without
// Options.Clock it is the wall clock at New plus the monotonic time since:
// time.Since reads only the monotonic clock, several times cheaper than
// time.Now on some VMs, and a step of the wall clock cannot move limits.
func (s *Store) now() int64 {
	if s.clock == nil {
		return s.startUS + time.Since(s.start).Microseconds()
	}
	return s.clock().UnixMicro()
}

// shard returns the shard of a key whose tag is tag.
func (s *Store) shard(tag uint64) *shard { return &s.shards[tag&s.mask] }

// tag returns key's tag, which picks its shard (low bits) and its slot in
// the shard's table (high bits).
func (s *Store) tag(key string) uint64 { return tagOf(maphash.String(s.seed, key)) }

// locked returns key's shard, locked, key's tag, and key's state in the
// shard, locked too, or nil when the shard holds no state for key. The
// caller unlocks both.
func (s *Store) locked(key string) (*shard, uint64, *keyState) {
	tag := s.tag(key)
	sh := s.shard(tag)
	sh.mu.Lock()
	ks := sh.t.Load().find(tag, key)
	if ks != nil {
		ks.mu.Lock()
	}
	return sh, tag, ks
}

// params returns l's constants as this store applies them (scaled by
// LocalShare). validated reports whether key, l and n were checked with
// smartlimit.CheckRequest; when false, only l and the sign of n are known
// good, and the caller checks the key before it creates state for it.
func (s *Store) params(key string, l smartlimit.Limit, n int64) (p *algo.Params, validated bool, err error) {
	if p := s.memoHit(l, n); p != nil {
		return p, false, nil
	}
	return s.newParams(key, l, n)
}

// memoHit returns l's memoised Params when l is in the memo and n is a
// cost that needs no check beyond l's, or nil. It is the hot path of
// params, kept small enough to inline into the checks.
func (s *Store) memoHit(l smartlimit.Limit, n int64) *algo.Params {
	if m := s.memo[memoIndex(l)].Load(); m != nil && m.l == l && n >= 0 && (n <= 1 || l.Algorithm != smartlimit.Concurrency) {
		return &m.p
	}
	return nil
}

// newParams validates a request whose limit missed the memo and memoises
// the limit's Params.
func (s *Store) newParams(key string, l smartlimit.Limit, n int64) (*algo.Params, bool, error) {
	if err := smartlimit.CheckRequest(key, l, n); err != nil {
		return nil, false, err
	}
	m := &memo{l: l}
	var err error
	if m.p, err = s.applied(l); err != nil {
		// CheckRequest accepted it, and applied keeps every limit it
		// accepts exact: not expected, and not the store failing.
		return nil, false, fmt.Errorf("smartlimit: memfallback: %v: %w: %w", l, smartlimit.ErrNotDecided, err)
	}
	s.memo[memoIndex(l)].Store(m)
	return &m.p, true, nil
}

func memoIndex(l smartlimit.Limit) uint64 {
	h := uint64(l.Rate)*0x9e3779b97f4a7c15 ^ uint64(l.Period)*0xbf58476d1ce4e5b9 ^ uint64(l.Burst)*0x94d049bb133111eb ^ uint64(l.Algorithm)
	return (h >> 32) % memoSlots
}

// applied returns l's Params scaled by the store's LocalShare, as its
// doc states: the capacity c becomes max(1, ⌊c·share⌋); a window or
// Concurrency limit keeps its Period; a bucket limit refills at share ×
// Rate per Period when exact arithmetic holds that, or else at the closest
// rate below it that does. (Scaling Rate alone, as before, changes the
// reduced fraction Period/Rate and so can leave algo.NewParams' bounds for
// limits that Redis takes, like 100000/720h at 1/3.)
func (s *Store) applied(l smartlimit.Limit) (algo.Params, error) {
	k, periodUS := algo.Kind(l.Algorithm), l.Period.Microseconds()
	if s.shareNum == nil {
		return algo.NewParams(k, l.Rate, periodUS, l.Burst)
	}
	full, err := algo.NewParams(k, l.Rate, periodUS, l.Burst) // CheckRequest accepted it
	if err != nil {
		return full, err
	}
	c := new(big.Int).Mul(big.NewInt(full.Burst), s.shareNum)
	capacity := max(1, c.Quo(c, s.shareDen).Int64())
	switch k {
	case algo.GCRA, algo.TokenBucket, algo.LeakyBucket:
	default:
		return algo.NewParams(k, capacity, periodUS, 0)
	}
	// Units per µs: R/P for the limit, R·share/P for this store. NewParams
	// needs the reduced P' with capacity·P' ≤ MaxExact/2 and R' ≤ MaxExact/4.
	num := new(big.Int).Mul(big.NewInt(full.R), s.shareNum)
	den := new(big.Int).Mul(big.NewInt(full.P), s.shareDen)
	maxP, maxR := big.NewInt((algo.MaxExact/2)/capacity), big.NewInt(algo.MaxExact/4)
	r, p := lowerApprox(num, den, maxR, maxP)
	if r.Sign() == 0 {
		// Slower than one unit per maxP µs: no exact rate is as slow, so
		// take the slowest there is.
		r.SetInt64(1)
		p.Set(maxP)
	}
	return algo.NewParams(k, r.Int64(), p.Int64(), capacity)
}

// lowerApprox returns the largest fraction r/p ≤ num/den with r ≤ maxR and
// p ≤ maxP (num/den itself, reduced, when it fits), walking the
// Stern–Brocot tree in runs, as the continued fraction of num/den does.
// Between neighbours lo < x < hi of the tree every fraction has a
// denominator at least lo's plus hi's and a numerator at least their sum,
// so when a run of lo's steps is cut short by a bound, lo is the answer.
func lowerApprox(num, den, maxR, maxP *big.Int) (r, p *big.Int) {
	loR, loP := big.NewInt(0), big.NewInt(1)
	hiR, hiP := big.NewInt(1), big.NewInt(0)
	var a, b, t, u big.Int
	for hiCut := false; ; {
		// lo += t·hi for the largest t with lo+t·hi ≤ x:
		// t = ⌊(num·loP − loR·den) / (hiR·den − num·hiP)⌋.
		a.Sub(u.Mul(num, loP), t.Mul(loR, den))
		b.Sub(u.Mul(hiR, den), t.Mul(num, hiP))
		t.Quo(&a, &b)
		cut := bound(&t, loR, hiR, maxR)
		cut = bound(&t, loP, hiP, maxP) || cut
		loR.Add(loR, u.Mul(&t, hiR))
		loP.Add(loP, u.Mul(&t, hiP))
		// Bounded, or lo = x, or hi was bounded: lo+hi is then out of
		// bounds, and so is every fraction between lo and hi.
		if cut || hiCut || a.Cmp(u.Mul(&t, &b)) == 0 {
			return loR, loP
		}
		// hi += t·lo for the largest t with hi+t·lo > x:
		// t = ⌊(hiR·den − num·hiP − 1) / (num·loP − loR·den)⌋.
		a.Sub(u.Mul(num, loP), t.Mul(loR, den))
		b.Sub(u.Mul(hiR, den), t.Mul(num, hiP))
		t.Quo(b.Sub(&b, big.NewInt(1)), &a)
		hiCut = bound(&t, hiR, loR, maxR)
		hiCut = bound(&t, hiP, loP, maxP) || hiCut
		hiR.Add(hiR, u.Mul(&t, loR))
		hiP.Add(hiP, u.Mul(&t, loP))
	}
}

// bound lowers *t so that base + t·step ≤ limit, and reports whether it
// had to. base never exceeds limit.
func bound(t, base, step, limit *big.Int) bool {
	if step.Sign() == 0 {
		return false
	}
	var m big.Int
	m.Quo(m.Sub(limit, base), step)
	if t.Cmp(&m) > 0 {
		t.Set(&m)
		return true
	}
	return false
}

// rationalShare returns the first convergent of the continued fraction of
// f's exact binary value that is f as a float64 (1/3 for 1.0/3), so that a
// share 1/N scales limits by exactly 1/N.
func rationalShare(f float64) (num, den *big.Int) {
	x := new(big.Rat).SetFloat64(f)
	n, d := new(big.Int).Set(x.Num()), new(big.Int).Set(x.Denom())
	p0, q0 := big.NewInt(0), big.NewInt(1)
	p1, q1 := big.NewInt(1), big.NewInt(0)
	var a, r big.Int
	for d.Sign() != 0 {
		a.QuoRem(n, d, &r)
		p0.Add(p0, new(big.Int).Mul(&a, p1))
		q0.Add(q0, new(big.Int).Mul(&a, q1))
		p0, p1, q0, q1 = p1, p0, q1, q0
		if g, _ := new(big.Rat).SetFrac(p1, q1).Float64(); g == f {
			return p1, q1
		}
		n, d = d, new(big.Int).Set(&r)
	}
	return p1, q1
}

// step decides a request of cost n on e at now, as the scripts' step does,
// writing the decision to *d, and keeps the new state when it is allowed.
// id names the lease that a Concurrency request acquires.
func (e *entry) step(now, n int64, id string, d *algo.Decision) {
	switch e.p.Kind {
	case algo.SlidingWindow:
		*d = algo.StepSlidingWindow(e.p, &e.ext().log, now, n)
	case algo.Concurrency:
		x := e.ext()
		x.hw = x.leases.HW
		*d = algo.StepConcurrency(e.p, &x.leases, now, n, id)
	default:
		algo.Step(e.p, &e.s, now, n, d) // e.s changes only when allowed with n > 0
	}
}

// undo takes back what step added for an allowed request of cost n > 0:
// the log entry or the lease it appended (the algo step functions append
// at the end). Fixed-size states are never committed by try, so they need
// no undo.
func (e *entry) undo(n int64) {
	if n == 0 {
		return
	}
	switch e.p.Kind {
	case algo.SlidingWindow:
		e.x.log.E = e.x.log.E[:len(e.x.log.E)-1]
	case algo.Concurrency:
		ls := &e.x.leases
		k := len(ls.ID) - int(n)
		clear(ls.ID[k:])
		ls.ID, ls.Deadline, ls.HW = ls.ID[:k], ls.Deadline[:k], e.x.hw
	}
}

// try decides like step but, for fixed-size states, returns the new state
// instead of keeping it; logs and leases are changed and must be undone
// with undo if the decision is not kept.
func (e *entry) try(now, n int64) (s algo.State, d algo.Decision) {
	if e.p.Kind == algo.SlidingWindow || e.p.Kind == algo.Concurrency {
		e.step(now, n, "", &d)
		return e.s, d
	}
	s = e.s
	algo.Step(e.p, &s, now, n, &d)
	return s, d
}

// expired reports whether e is back to its full, unused state at now, so
// that dropping it changes no decision. It prunes logs and leases.
func (e *entry) expired(now int64) bool {
	switch e.p.Kind {
	case algo.SlidingWindow, algo.Concurrency:
		var d algo.Decision
		e.step(now, 0, "", &d)
		return d.ResetAfter == 0
	}
	return algo.Expired(e.p, e.s, now)
}

// result writes to *r the Result of decision d under p. (Through a pointer:
// a Result is too large to return in registers, and copying it out of every
// call on the hot path cost a third of a check.)
func result(r *smartlimit.Result, p *algo.Params, d *algo.Decision) {
	*r = smartlimit.Result{
		Allowed:    d.Allowed,
		Limit:      p.Burst,
		Remaining:  d.Remaining,
		ResetAfter: time.Duration(d.ResetAfter) * time.Microsecond,
		RetryAfter: time.Duration(d.RetryAfter) * time.Microsecond,
		Delay:      time.Duration(d.Delay) * time.Microsecond,
		Tier:       smartlimit.TierMemory,
	}
	if d.RetryAfter == algo.Never {
		r.RetryAfter = smartlimit.Never
	}
}

// trimHeld drops the replenished entries of ks, a key the caller has
// locked, which makeRoom skips, and returns ks, or nil when that removed
// it: a full shard whose only replenished entries are the checked key's own
// still has room for the key. Requires sh.mu and ks.mu held, and no pointer
// into ks's entries in use.
func (sh *shard) trimHeld(tag uint64, ks *keyState, now int64) *keyState {
	sh.n -= ks.dropExpired(now)
	if ks.dead() {
		sh.unlink(tag, ks)
		return nil
	}
	return ks
}

// makeRoom reports whether sh can take need more entries, dropping
// replenished entries among a bounded sample when it is full. held is a
// key the caller has locked, which is not sampled. Requires sh.mu held.
func (s *Store) makeRoom(sh *shard, held *keyState, now int64, need int) bool {
	if sh.n+need <= s.shardCap {
		return true
	}
	t := sh.t.Load()
	start, seen := rand.Uint64(), 0 // a fresh sample each time
	for j := range uint64(len(t.kss)) {
		if i := (start + j) & t.mask; t.kss[i].Load() != nil {
			sh.sweepKey(t.tags[i].Load(), t.kss[i].Load(), held, now)
			if seen++; seen == evictSample {
				break
			}
		}
	}
	return sh.n+need <= s.shardCap
}

// full returns the outcome of OnFull for a request under p.
func (s *Store) full(p *algo.Params) (smartlimit.Result, error) {
	if s.onFull == ErrorWhenFull {
		return smartlimit.Result{}, ErrFull
	}
	return smartlimit.Result{Limit: p.Burst, RetryAfter: s.fullWait, Tier: smartlimit.TierMemory}, nil
}

// Allow is shorthand for AllowN(ctx, key, l, 1).
func (s *Store) Allow(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	return s.AllowN(ctx, key, l, 1)
}

// AllowN reports whether n units may pass for key under l now, and consumes
// them if so. n = 0 asks without consuming. A Concurrency limit acquires a
// lease that only expires; use Acquire to be able to release it.
func (s *Store) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (r smartlimit.Result, err error) {
	err = s.allow(ctx, &r, key, l, n, "")
	return r, err
}

// allow decides AllowN's request, writing its result to *r.
func (s *Store) allow(ctx context.Context, r *smartlimit.Result, key string, l smartlimit.Limit, n int64, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, validated := s.memoHit(l, n), false
	if p == nil {
		var err error
		if p, validated, err = s.newParams(key, l, n); err != nil {
			return err
		}
	}
	tag := s.tag(key)
	sh := s.shard(tag)
	// The clock is read before the key's lock, as the peers do: measured
	// here, that makes a check of one key from one goroutine 7% faster
	// and, when two goroutines contend for that key, 9% slower. A stale
	// time makes the other algorithms stricter, but would end a lease
	// early, so Concurrency reads it under the lock (now 0).
	var now int64
	if p.Kind != algo.Concurrency {
		now = s.now()
	}
	if ks := sh.t.Load().candidate(tag); ks != nil && s.decide(r, ks, key, p, now, n, id) {
		return nil
	}
	return s.allowLocked(r, sh, tag, key, l, p, validated, n, id)
}

// decide decides the request at now (0: read the clock under ks's lock) on
// ks's entry for p, writing its result to *r, and reports true; or reports
// false, deciding nothing, when ks is not key's state (a rare collision of
// tags), holds no entry for p, or has been removed since it was found
// without the shard lock.
func (s *Store) decide(r *smartlimit.Result, ks *keyState, key string, p *algo.Params, now, n int64, id string) bool {
	ks.mu.Lock()
	if !ks.dead() && ks.key == key {
		if e := ks.find(p); e != nil {
			if now == 0 {
				now = s.now()
			}
			var d algo.Decision
			e.step(now, n, id, &d)
			ks.mu.Unlock()
			result(r, p, &d)
			return true
		}
	}
	ks.mu.Unlock()
	return false
}

// allowLocked is allow for a key or limit that has no state yet, or that
// was just removed: it looks again under the shard lock and creates the
// state when the request changes it.
func (s *Store) allowLocked(r *smartlimit.Result, sh *shard, tag uint64, key string, l smartlimit.Limit, p *algo.Params, validated bool, n int64, id string) error {
	var d algo.Decision
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ks := sh.t.Load().find(tag, key)
	if ks != nil {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if e := ks.find(p); e != nil {
			e.step(s.now(), n, id, &d)
			result(r, p, &d)
			return nil
		}
	}
	if !validated {
		if err := smartlimit.CheckRequest(key, l, n); err != nil {
			return err
		}
	}
	now := s.now()
	e := entry{p: p}
	e.step(now, n, id, &d)
	if d.Allowed && n > 0 { // only a change of state needs an entry, as in Redis
		if ks != nil && sh.n+1 > s.shardCap {
			ks = sh.trimHeld(tag, ks, now) // the deferred Unlock holds the old ks
		}
		if !s.makeRoom(sh, ks, now, 1) {
			var err error
			*r, err = s.full(p)
			return err
		}
		sh.n++
		if ks != nil {
			ks.add(&e)
		} else {
			sh.put(tag, &keyState{key: key, first: e})
		}
	}
	result(r, p, &d)
	return nil
}

// Peek returns key's state under l without consuming anything: Remaining
// (and ResetAfter) is what is there now, and Allowed, RetryAfter and Delay
// are those of a request of cost 1, as the scripts' peek mode reports them.
func (s *Store) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return smartlimit.Result{}, err
	}
	p, validated, err := s.params(key, l, 1)
	if err != nil {
		return smartlimit.Result{}, err
	}
	sh, _, ks := s.locked(key)
	defer sh.mu.Unlock()
	var e *entry
	if ks != nil {
		defer ks.mu.Unlock()
		e = ks.find(p)
	}
	now := s.now()
	if e == nil {
		if !validated {
			if err := smartlimit.CheckRequest(key, l, 1); err != nil {
				return smartlimit.Result{}, err
			}
		}
		e = &entry{p: p}
	}
	_, d0 := e.try(now, 0)
	_, d := e.try(now, 1)
	if d.Allowed {
		e.undo(1)
	}
	d.Remaining, d.ResetAfter = d0.Remaining, d0.ResetAfter
	var r smartlimit.Result
	result(&r, p, &d)
	return r, nil
}

// Wait blocks until one unit passes for key under l, or ctx ends; see
// smartlimit.WaitN.
func (s *Store) Wait(ctx context.Context, key string, l smartlimit.Limit) error {
	return smartlimit.WaitN(ctx, s, key, l, 1)
}

// WaitN blocks until n units pass for key under l, consuming them, or ctx
// ends; see smartlimit.WaitN. Waiting uses real timers, not Options.Clock.
func (s *Store) WaitN(ctx context.Context, key string, l smartlimit.Limit, n int64) error {
	return smartlimit.WaitN(ctx, s, key, l, n)
}

// AllowMany decides each request as AllowN would, in request order, and
// returns the results in that order. Bad input in any request is an
// *InputError before anything is decided. With OnFull set to ErrorWhenFull,
// items that found no room fail with ErrFull in a *smartlimit.BatchError and
// the other results are valid.
func (s *Store) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if err := smartlimit.CheckRequest(r.Key, r.Limit, r.Cost); err != nil {
			return nil, fmt.Errorf("smartlimit: request %d: %w", i, err)
		}
	}
	out := make([]smartlimit.Result, len(reqs))
	var errs []error
	for i, r := range reqs {
		if err := s.allow(context.Background(), &out[i], r.Key, r.Limit, r.Cost, ""); err != nil {
			if errs == nil {
				errs = make([]error, len(reqs))
			}
			errs[i] = err
		}
	}
	if errs != nil {
		return out, &smartlimit.BatchError{Errs: errs}
	}
	return out, nil
}

// multiItem is one limit of an AllowAll call.
type multiItem struct {
	p   *algo.Params // memoised, as entry.p
	e   *entry       // nil: no state yet
	tmp entry        // the zero state for a key without one
	ns  algo.State
	d   algo.Decision
}

// AllowAll consumes n units for key under every limit in limits, or under
// none of them when any denies, atomically: for example 10/s and 1000/day
// together. The limits must differ and must not be Concurrency limits. The
// Result is the binding one, as smartlimit.Combine describes; the limits
// that would have allowed report Allowed false with what is still there.
func (s *Store) AllowAll(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) (smartlimit.Result, error) {
	rs, err := s.AllowAllResults(ctx, key, n, limits...)
	if err != nil {
		return smartlimit.Result{}, err
	}
	return smartlimit.Combine(rs), nil
}

// AllowAllResults is AllowAll with each limit's own Result, in the order of
// limits; see smartlimit.MultiResultLimiter.
func (s *Store) AllowAllResults(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) ([]smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(limits) == 0 {
		return nil, &smartlimit.InputError{Field: "limits", Value: "", Reason: "AllowAll needs at least one limit"}
	}
	var buf [4]multiItem
	items := buf[:0]
	if len(limits) > len(buf) {
		items = make([]multiItem, 0, len(limits))
	}
	for _, l := range limits {
		if err := smartlimit.CheckRequest(key, l, n); err != nil {
			return nil, err
		}
		if l.Algorithm == smartlimit.Concurrency {
			return nil, &smartlimit.InputError{Field: "algorithm", Value: l.String(), Reason: "AllowAll does not take Concurrency limits; use Acquire"}
		}
		p, _, err := s.params(key, l, n)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if *it.p == *p {
				return nil, &smartlimit.InputError{Field: "limits", Value: l.String(), Reason: "the same limit twice"}
			}
		}
		items = append(items, multiItem{p: p})
	}

	sh, tag, ks := s.locked(key)
	defer sh.mu.Unlock()
	now := s.now()
	if ks != nil {
		defer ks.mu.Unlock()
		if sh.n+len(items) > s.shardCap { // room may be needed
			ks = sh.trimHeld(tag, ks, now) // the deferred Unlock holds the old ks
		}
	}
	all := true
	for i := range items {
		it := &items[i]
		if ks != nil {
			it.e = ks.find(it.p)
		}
		e := it.e
		if e == nil {
			it.tmp.p = it.p
			e = &it.tmp
		}
		it.ns, it.d = e.try(now, n)
		all = all && it.d.Allowed
	}
	if all && n > 0 {
		fresh := 0
		for i := range items {
			if items[i].e == nil {
				fresh++
			}
		}
		if fresh > 0 && !s.makeRoom(sh, ks, now, fresh) {
			undoAll(items, n)
			rs := make([]smartlimit.Result, len(items))
			for i := range items {
				var err error
				if rs[i], err = s.full(items[i].p); err != nil {
					return nil, err
				}
			}
			return rs, nil
		}
	}
	rs := make([]smartlimit.Result, 0, len(items))
	for i := range items {
		it := &items[i]
		if it.d.Allowed && n > 0 {
			if all {
				switch {
				case it.e != nil:
					it.e.s = it.ns
				case ks != nil:
					it.tmp.s = it.ns
					ks.add(&it.tmp)
					sh.n++
				default:
					// A new key, locked before it is published: its
					// other limits are added below.
					it.tmp.s = it.ns
					ks = &keyState{key: key, first: it.tmp}
					ks.mu.Lock()
					defer ks.mu.Unlock()
					sh.put(tag, ks)
					sh.n++
				}
			} else {
				// Nothing is charged: report what is there, with no retry
				// of its own, as the scripts do.
				e := it.e
				if e == nil {
					e = &it.tmp
				}
				e.undo(n)
				_, d0 := e.try(now, 0)
				it.d.Allowed, it.d.Remaining, it.d.ResetAfter = false, d0.Remaining, d0.ResetAfter
			}
		}
		rs = append(rs, smartlimit.Result{})
		result(&rs[len(rs)-1], it.p, &it.d)
	}
	return rs, nil
}

// undoAll takes back every allowed item's appended log entries.
func undoAll(items []multiItem, n int64) {
	for i := range items {
		it := &items[i]
		if !it.d.Allowed {
			continue
		}
		if it.e != nil {
			it.e.undo(n)
		} else {
			it.tmp.undo(n)
		}
	}
}

// Acquire takes a lease for key under l, which must be a Concurrency limit.
// When the Result is not Allowed the lease is nil. Release the lease when
// the work is done; otherwise it expires after l.Period.
func (s *Store) Acquire(ctx context.Context, key string, l smartlimit.Limit) (*smartlimit.Lease, smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, smartlimit.Result{}, err
	}
	if l.Algorithm != smartlimit.Concurrency {
		return nil, smartlimit.Result{}, &smartlimit.InputError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "Acquire takes a Concurrency limit"}
	}
	id := smartlimit.NewLeaseID()
	var r smartlimit.Result
	err := s.allow(ctx, &r, key, l, 1, id)
	if err != nil || !r.Allowed {
		return nil, r, err
	}
	return smartlimit.NewLease(key, l, id, s.release), r, nil
}

func (s *Store) release(ctx context.Context, ls *smartlimit.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, _, err := s.params(ls.Key, ls.Limit, 0)
	if err != nil {
		return err
	}
	if ls.ID == "" {
		return nil // AllowN's anonymous leases are stored without an ID and cannot be released
	}
	sh, _, ks := s.locked(ls.Key)
	if ks != nil {
		if e := ks.find(p); e != nil && e.x != nil {
			e.x.leases.Release(ls.ID)
		}
		ks.mu.Unlock()
	}
	sh.mu.Unlock()
	return nil
}

// Reset forgets key's state under l: the next check finds a full limit.
func (s *Store) Reset(ctx context.Context, key string, l smartlimit.Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := smartlimit.CheckRequest(key, l, 0); err != nil {
		return err
	}
	p, _, err := s.params(key, l, 0)
	if err != nil {
		return err
	}
	sh, tag, ks := s.locked(key)
	if ks != nil {
		if ks.remove(p) {
			sh.n--
			if ks.dead() {
				sh.unlink(tag, ks)
			}
		}
		ks.mu.Unlock()
	}
	sh.mu.Unlock()
	return nil
}
