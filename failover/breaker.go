package failover

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a tier's circuit breaker.
type BreakerState uint8

// State is the former name of BreakerState.
//
// Deprecated: use BreakerState.
type State = BreakerState

// The breaker states. A closed breaker lets every call through, an open one
// none until its cooldown passes, a half-open one a few probes.
const (
	// Closed lets every call through and counts failures.
	Closed BreakerState = iota
	// Open lets no call through until the cooldown passes.
	Open
	// HalfOpen lets at most BreakerOptions.Probes calls through at a time;
	// Probes successes close the breaker, one failure opens it again with a
	// longer cooldown.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Defaults of BreakerOptions. django-smart-ratelimit's breaker opens after
// 5 failures too; its 60s recovery is too slow for a limiter whose tier is
// usually back within seconds, hence a 1s first cooldown that doubles.
const (
	// DefaultFailures is the default value of BreakerOptions.Failures.
	DefaultFailures = 5
	// DefaultErrorRate is the default value of BreakerOptions.ErrorRate.
	DefaultErrorRate = 0.5
	// DefaultMinCalls is the default value of BreakerOptions.MinCalls.
	DefaultMinCalls = 20
	// DefaultWindow is the default value of BreakerOptions.Window.
	DefaultWindow = 10 * time.Second
	// DefaultCooldown is the default value of BreakerOptions.Cooldown.
	DefaultCooldown = time.Second
	// DefaultMaxCooldown is the default value of BreakerOptions.MaxCooldown.
	DefaultMaxCooldown = 30 * time.Second
	// DefaultMultiplier is the default value of BreakerOptions.Multiplier.
	DefaultMultiplier = 2.0
	// DefaultJitter is the default value of BreakerOptions.Jitter.
	DefaultJitter = 0.2
	// DefaultProbes is the default value of BreakerOptions.Probes.
	DefaultProbes = 3
)

// BreakerOptions configures the circuit breaker that each tier has. The
// zero value means the defaults.
//
// A closed breaker opens after Failures consecutive failures, or when, over
// the last Window, at least MinCalls calls were made and the fraction that
// failed is at least ErrorRate. It stays open for a cooldown, then lets
// Probes trial calls through (half-open); when they all succeed it closes,
// when one fails it opens again. The k-th cooldown in a row is
// Cooldown·Multiplier^(k-1), at most MaxCooldown, then spread by ±Jitter
// (a fraction) so that many processes do not probe a recovering server at
// the same instant. Closing resets k.
type BreakerOptions struct {
	// Failures is how many consecutive failures open the breaker.
	// Default DefaultFailures.
	Failures int
	// ErrorRate is the failed fraction of calls over Window that opens the
	// breaker, in (0, 1]. Default DefaultErrorRate; negative disables the
	// rate rule (only Failures applies).
	ErrorRate float64
	// MinCalls is how many calls Window must hold before ErrorRate applies.
	// Default DefaultMinCalls.
	MinCalls int
	// Window is the span over which ErrorRate is measured, in ten buckets.
	// Default DefaultWindow.
	Window time.Duration
	// Cooldown is how long the breaker stays open the first time.
	// Default DefaultCooldown.
	Cooldown time.Duration
	// MaxCooldown caps the cooldown before jitter. Default
	// DefaultMaxCooldown (or Cooldown, if that is larger).
	MaxCooldown time.Duration
	// Multiplier is the backoff factor between cooldowns in a row, at least
	// 1. Default DefaultMultiplier.
	Multiplier float64
	// Jitter is the fraction, in [0, 1), by which a cooldown is spread
	// both ways. Default DefaultJitter; negative means none.
	Jitter float64
	// Probes is how many successful trial calls close a half-open breaker,
	// and how many may be in flight at once. Default DefaultProbes.
	Probes int
}

// withDefaults returns o with its zero fields set, or an error for values
// that make no sense.
func (o BreakerOptions) withDefaults() (BreakerOptions, error) {
	switch {
	case o.Failures < 0, o.MinCalls < 0, o.Probes < 0:
		return o, errorf("Breaker.Failures, MinCalls and Probes must not be negative")
	case o.Window < 0, o.Cooldown < 0, o.MaxCooldown < 0:
		return o, errorf("Breaker durations must not be negative")
	case o.ErrorRate > 1:
		return o, errorf("Breaker.ErrorRate %v is above 1", o.ErrorRate)
	case o.Multiplier != 0 && o.Multiplier < 1:
		return o, errorf("Breaker.Multiplier %v is below 1", o.Multiplier)
	case o.Jitter >= 1:
		return o, errorf("Breaker.Jitter %v is not below 1", o.Jitter)
	}
	if o.Failures == 0 {
		o.Failures = DefaultFailures
	}
	if o.ErrorRate == 0 {
		o.ErrorRate = DefaultErrorRate
	}
	if o.MinCalls == 0 {
		o.MinCalls = DefaultMinCalls
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < numBuckets {
		o.Window = numBuckets // one nanosecond per bucket at least
	}
	if o.Cooldown == 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.MaxCooldown == 0 {
		o.MaxCooldown = DefaultMaxCooldown
	}
	o.MaxCooldown = max(o.MaxCooldown, o.Cooldown)
	if o.Multiplier == 0 {
		o.Multiplier = DefaultMultiplier
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	}
	o.Jitter = max(o.Jitter, 0)
	if o.Probes == 0 {
		o.Probes = DefaultProbes
	}
	return o, nil
}

// backoff returns the k-th cooldown in a row (k ≥ 1) before jitter.
func (o *BreakerOptions) backoff(k int) time.Duration {
	d := float64(o.Cooldown)
	for i := 1; i < k && d < float64(o.MaxCooldown); i++ {
		d *= o.Multiplier
	}
	return time.Duration(min(d, float64(o.MaxCooldown)))
}

// jitter spreads d by ±o.Jitter, with r in [0, 1).
func (o *BreakerOptions) jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 + o.Jitter*(2*r-1)))
}

// outcome is how a call to a tier ended, as the breaker sees it.
type outcome uint8

const (
	success outcome = iota
	failure
	// neutral: the call says nothing about the tier (bad input, or the
	// caller's own context ended).
	neutral
)

// ticket is a breaker's permission for one call. Its generation ties the
// outcome to the state it was issued in: outcomes of calls issued before a
// state change are ignored, so calls in flight when a breaker opens do not
// open it again or lengthen its cooldown.
type ticket struct {
	gen uint64
}

// numBuckets is how many buckets Window is cut into.
const numBuckets = 10

// bucket counts the calls of one tenth of the window. Its fields are
// atomic so that a successful call, the common case, takes no lock; a
// call that races with the bucket's rotation may go uncounted, which an
// error rate can afford.
type bucket struct {
	epoch    atomic.Int64 // time / bucket width
	ok, fail atomic.Int64
}

// breaker is one tier's circuit breaker. It is safe for concurrent use.
type breaker struct {
	opts  *BreakerOptions
	clock func() time.Time
	rand  func() float64

	// sg packs the generation (high bits) and the state (low two bits), so
	// that the closed fast path reads both with one atomic load. It
	// changes only with mu held.
	sg atomic.Uint64

	// consecutive counts failures in a row while closed. Failures add to
	// it with mu held; a success zeroes it without the lock.
	consecutive atomic.Int64
	buckets     [numBuckets]bucket

	mu        sync.Mutex
	opens     int // opens since the breaker last closed: the backoff step
	openUntil time.Time
	probing   int // half-open: trial calls in flight
	probeOK   int // half-open: trial calls that succeeded
}

func (b *breaker) load() (BreakerState, uint64) {
	sg := b.sg.Load()
	return BreakerState(sg & 3), sg >> 2
}

// change is a state transition to report to the hook.
type change struct {
	from, to BreakerState
	cooldown time.Duration
}

// setLocked moves b to s, starting a new generation. Requires b.mu held.
func (b *breaker) setLocked(s BreakerState) change {
	from, gen := b.load()
	b.sg.Store((gen+1)<<2 | uint64(s))
	return change{from: from, to: s}
}

// allow reports whether a call may go to the tier now, and the ticket to
// record its outcome with. ch.to != ch.from when allow moved the breaker
// from open to half-open.
func (b *breaker) allow() (t ticket, ok bool, ch change) {
	if st, gen := b.load(); st == Closed {
		return ticket{gen: gen}, true, ch
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, gen := b.load()
	switch st {
	case Closed:
		return ticket{gen: gen}, true, ch
	case Open:
		if b.clock().Before(b.openUntil) {
			return t, false, ch
		}
		ch = b.setLocked(HalfOpen)
		b.probing, b.probeOK = 0, 0
		_, gen = b.load()
	}
	if b.probing >= b.opts.Probes-b.probeOK {
		return t, false, ch
	}
	b.probing++
	return ticket{gen: gen}, true, ch
}

// record counts the outcome of a call made with t.
func (b *breaker) record(t ticket, o outcome) (ch change) {
	if o == success {
		// The fast path of a healthy tier: no lock.
		if st, gen := b.load(); st == Closed {
			if gen == t.gen {
				if b.opts.ErrorRate >= 0 { // reading the clock costs, on some VMs, more than the rest
					b.count(b.clock(), false)
				}
				if b.consecutive.Load() != 0 {
					b.consecutive.Store(0)
				}
			}
			return ch
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, gen := b.load()
	if gen != t.gen {
		return ch // issued before a state change: stale
	}
	switch st {
	case Closed:
		if o == neutral {
			return ch
		}
		now := b.clock()
		b.count(now, o == failure)
		if o == success { // the state changed after the fast path looked
			b.consecutive.Store(0)
			return ch
		}
		if b.consecutive.Add(1) >= int64(b.opts.Failures) || b.rateTripped(now) {
			return b.openLocked(now)
		}
	case HalfOpen:
		b.probing--
		switch o {
		case failure:
			return b.openLocked(b.clock())
		case success:
			b.probeOK++
			if b.probeOK >= b.opts.Probes {
				b.opens = 0
				return b.resetLocked(Closed)
			}
		}
	}
	return ch
}

// openLocked opens b for the next cooldown of the backoff. Requires b.mu.
func (b *breaker) openLocked(now time.Time) change {
	b.opens++
	d := b.opts.jitter(b.opts.backoff(b.opens), b.rand())
	b.openUntil = now.Add(d)
	ch := b.resetLocked(Open)
	ch.cooldown = d
	return ch
}

// resetLocked moves b to s with empty counters. Requires b.mu.
func (b *breaker) resetLocked(s BreakerState) change {
	b.probing, b.probeOK = 0, 0
	b.consecutive.Store(0)
	for i := range b.buckets {
		bk := &b.buckets[i]
		bk.epoch.Store(0)
		bk.ok.Store(0)
		bk.fail.Store(0)
	}
	return b.setLocked(s)
}

// count adds one call to the window.
func (b *breaker) count(now time.Time, failed bool) {
	e := now.UnixNano() / int64(b.opts.Window/numBuckets)
	bk := &b.buckets[uint64(e)%numBuckets]
	for {
		old := bk.epoch.Load()
		if old == e {
			break
		}
		if old > e {
			return // a call that read the clock long ago: its bucket is gone
		}
		if bk.epoch.CompareAndSwap(old, e) {
			bk.ok.Store(0)
			bk.fail.Store(0)
			break
		}
	}
	if failed {
		bk.fail.Add(1)
	} else {
		bk.ok.Add(1)
	}
}

// rateTripped reports whether the window's error rate opens b. Requires
// b.mu.
func (b *breaker) rateTripped(now time.Time) bool {
	if b.opts.ErrorRate < 0 {
		return false
	}
	e := now.UnixNano() / int64(b.opts.Window/numBuckets)
	var ok, fail int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if d := e - bk.epoch.Load(); d >= 0 && d < numBuckets {
			ok, fail = ok+bk.ok.Load(), fail+bk.fail.Load()
		}
	}
	calls := ok + fail
	return calls >= int64(b.opts.MinCalls) && float64(fail) >= b.opts.ErrorRate*float64(calls)
}

// snapshot returns what Health reports about b.
func (b *breaker) snapshot() (st BreakerState, consecutive int, retryAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, _ = b.load()
	if st == Open {
		retryAt = b.openUntil
	}
	return st, int(b.consecutive.Load()), retryAt
}
