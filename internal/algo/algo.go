// Package algo holds smartlimit's algorithms as pure step functions: given
// a state, the time now in microseconds, the limit's precomputed parameters
// and a cost, each returns the decision and the state to store.
//
// Nothing here reads a clock, takes a lock or does I/O. The Lua scripts in
// lua/ compute the same integer formulas, so that the Redis tier, the memory
// tier and any store built on this package decide identically, to the unit
// and to the microsecond. All arithmetic is on whole numbers that stay below
// 2^53, the largest integer a Lua number (a double) holds exactly; Params
// refuses limits that would break that bound.
package algo

import "errors"

// Kind names an algorithm. The values are the codes the Lua scripts use.
type Kind uint8

// The algorithms. The zero Kind is GCRA.
const (
	GCRA Kind = iota
	TokenBucket
	FixedWindow
	SlidingWindow
	SlidingWindowCounter
	LeakyBucket
	Concurrency
	numKinds
)

// Valid reports whether k names a known algorithm.
func (k Kind) Valid() bool { return k < numKinds }

// Never is the RetryAfter, in microseconds, of a request that can never pass
// (its cost is larger than the limit's capacity). The scripts reply -1 too.
const Never = -1

// MaxExact is the bound every stored or computed number stays under: 2^53,
// where doubles stop holding every integer.
const MaxExact = 1 << 53

// ErrTooLarge is returned by NewParams when a limit's numbers would leave
// the range that Lua computes exactly.
var ErrTooLarge = errors.New("limit too large to compute exactly (products must stay below 2^53)")

// ErrBadParams is returned by NewParams for non-positive rate or period, or
// a negative burst.
var ErrBadParams = errors.New("rate and period must be positive and burst non-negative")

// Params are the per-limit constants, computed once in Go and handed to the
// step functions (and, as ARGV, to the scripts) so that no call reduces
// fractions itself.
//
// For the bucket kinds (GCRA, TokenBucket, LeakyBucket) time is counted in
// ticks of 1/R microseconds, where period/rate = P/R after dividing both by
// their greatest common divisor: one unit of cost is P ticks and the capacity
// is Burst*P ticks. For the window kinds and Concurrency, P is the period (or
// lease time) in microseconds and R the rate (or maximum in flight).
type Params struct {
	Kind  Kind
	P     int64 // ticks per unit (buckets) or period in µs (windows, leases)
	R     int64 // ticks per µs (buckets) or units per window (windows, leases)
	Burst int64 // capacity in units
	Cap   int64 // capacity in ticks: Burst*P (buckets); Burst (others)
}

// NewParams computes the constants for a limit of rate units per periodUS
// microseconds with the given burst (0 means rate; ignored by windows).
func NewParams(k Kind, rate, periodUS, burst int64) (Params, error) {
	if rate <= 0 || periodUS <= 0 || burst < 0 {
		return Params{}, ErrBadParams
	}
	switch k {
	case GCRA, TokenBucket, LeakyBucket:
		if burst == 0 {
			burst = rate
		}
		g := gcd(periodUS, rate)
		p, r := periodUS/g, rate/g
		// Cap plus a little slack (see clampAhead) must stay exact.
		if burst > (MaxExact/2)/p || r > MaxExact/4 {
			return Params{}, ErrTooLarge
		}
		return Params{Kind: k, P: p, R: r, Burst: burst, Cap: burst * p}, nil
	case FixedWindow, SlidingWindow, Concurrency:
		if periodUS > MaxExact/8 || rate > MaxExact/8 {
			return Params{}, ErrTooLarge
		}
		return Params{Kind: k, P: periodUS, R: rate, Burst: rate, Cap: rate}, nil
	case SlidingWindowCounter:
		// prev*(P-elapsed) + (curr+cost)*P must stay exact: about 2*R*P.
		if periodUS > MaxExact/8 || rate > (MaxExact/4)/periodUS {
			return Params{}, ErrTooLarge
		}
		return Params{Kind: k, P: periodUS, R: rate, Burst: rate, Cap: rate}, nil
	}
	return Params{}, errors.New("unknown algorithm")
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Decision is what one step decides. Durations are in microseconds.
type Decision struct {
	Allowed    bool
	Remaining  int64 // units left after this step, never negative
	ResetAfter int64 // µs until the state is back to full and unused
	RetryAfter int64 // µs until the same request could pass; 0 when allowed; Never
	Delay      int64 // LeakyBucket: µs the caller should wait before proceeding
}

// State is the fixed-size state of every kind except SlidingWindow and
// Concurrency. Its zero value is a full, unused limit, which is also what an
// absent Redis key means.
//
//	GCRA, LeakyBucket:    A = theoretical arrival time (µs), B = its fraction in ticks (< R)
//	TokenBucket:          A = tokens missing from full, in ticks; B = time of last update (µs)
//	FixedWindow:          A = window start (µs), B = units counted in it
//	SlidingWindowCounter: A = current window start (µs), B = previous window's count, C = current's
type State struct{ A, B, C int64 }

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// ceilDivSigned returns ⌈a/b⌉ for any a and b > 0. (Go's division truncates
// toward zero, which is the ceiling for a ≤ 0.)
func ceilDivSigned(a, b int64) int64 {
	if a <= 0 {
		return a / b
	}
	return ceilDiv(a, b)
}

// Step decides a request of cost n at now for every kind with a fixed-size
// state and writes the decision to *d. When the request is allowed with
// n > 0 it updates *s to the state to store; otherwise *s is left as it was.
// A caller that decides without committing (a peek, the first phase of an
// all-or-nothing check) passes a copy. Step panics for SlidingWindow and
// Concurrency, which have their own step functions; callers dispatch on
// Kind first.
//
// State and decision go through pointers, rather than being returned,
// because a step sits on every check's hot path: returning them by value
// through the calls above and below cost 40 ns a step here, against 17 ns
// this way.
func Step(p *Params, s *State, now, n int64, d *Decision) {
	switch p.Kind {
	case GCRA, LeakyBucket:
		stepGCRA(p, s, now, n, d)
	case TokenBucket:
		stepTokenBucket(p, s, now, n, d)
	case FixedWindow:
		stepFixedWindow(p, s, now, n, d)
	case SlidingWindowCounter:
		stepSlidingWindowCounter(p, s, now, n, d)
	default:
		panic("algo: Step called for " + p.Kind.String())
	}
}

// Expired reports whether a fixed-size state stored at some time is, at now,
// equivalent to the zero State (full and unused), so that a store may drop
// it. It mirrors the TTL the scripts set on the key.
func Expired(p *Params, s State, now int64) bool {
	var d Decision
	Step(p, &s, now, 0, &d)
	return d.ResetAfter == 0
}

// String returns the algorithm's name, the stem shared by its script, its
// Go file and its Redis keys.
func (k Kind) String() string {
	if k < numKinds {
		return names[k]
	}
	return "unknown"
}

var names = [numKinds]string{"gcra", "token_bucket", "fixed_window", "sliding_window", "sliding_window_counter", "leaky_bucket", "concurrency"}
