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
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartlimit/smartlimit"
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
