package smartlimit

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/smartlimit/smartlimit/internal/algo"
)

// Algorithm selects how a Limit counts. The zero Algorithm is GCRA.
type Algorithm uint8

// The algorithms. Each is one Lua script (lua/NAME.lua), mirrored in Go by
// the memory tier, and its name is the one String returns.
const (
	// GCRA is the generic cell rate algorithm: token-bucket decisions with
	// one number of state. Capacity Burst, refilled continuously.
	GCRA Algorithm = iota
	// TokenBucket starts full at Burst tokens and refills continuously at
	// Rate per Period. It decides exactly as GCRA, also when the clock
	// steps back, but stores tokens.
	TokenBucket
	// FixedWindow allows Rate units per window; windows are aligned to
	// multiples of Period since the Unix epoch.
	FixedWindow
	// SlidingWindow is exact: at most Rate units in any window
	// (now-Period, now]. It keeps one entry per accepted request in the
	// window (not per unit: a check's work and memory do not grow with its
	// cost), so a key's memory grows with its traffic, up to Rate entries.
	SlidingWindow
	// SlidingWindowCounter estimates the sliding window from two fixed
	// windows' counts, weighting the previous one by how much of it still
	// overlaps: O(1) memory a key.
	SlidingWindowCounter
	// LeakyBucket shapes traffic: it admits with a Delay while the queue has
	// room and denies when it is full. Capacity counts the request being
	// served, so burst 3 at 1/s gives Delays 0, 1s, 2s, then a denial.
	LeakyBucket
	// Concurrency allows at most Rate leases in flight; a lease is released
	// (Lease.Release) or expires Period after it was acquired. While a lease
	// is in flight, a clock that steps back decides, and dates new leases,
	// at the time of the key's newest lease, so that more than Rate never
	// are in flight once it is corrected. (A clock that is wrong when a key
	// is first used, and then jumps forward, ends that key's leases early:
	// no clock can tell the jump from elapsed time.)
	Concurrency

	numAlgorithms
)

// String returns the algorithm's name: "gcra", "token_bucket",
// "fixed_window", "sliding_window", "sliding_window_counter",
// "leaky_bucket" or "concurrency".
func (a Algorithm) String() string { return algo.Kind(a).String() }

// ParseAlgorithm returns the Algorithm that String names. It also accepts
// dashes for underscores.
func ParseAlgorithm(s string) (Algorithm, error) {
	norm := strings.ReplaceAll(strings.ToLower(s), "-", "_")
	for a := range numAlgorithms {
		if a.String() == norm {
			return a, nil
		}
	}
	return 0, &InputError{Field: "algorithm", Value: s, Reason: "unknown algorithm"}
}

// MarshalText implements encoding.TextMarshaler.
func (a Algorithm) MarshalText() ([]byte, error) {
	if a >= numAlgorithms {
		return nil, &InputError{Field: "algorithm", Value: strconv.Itoa(int(a)), Reason: "unknown algorithm"}
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Algorithm) UnmarshalText(b []byte) error {
	v, err := ParseAlgorithm(string(b))
	if err == nil {
		*a = v
	}
	return err
}

// Limit is a rate limit: Rate units per Period, counted by Algorithm.
//
// Bucket algorithms (GCRA, TokenBucket, LeakyBucket) hold Burst units and
// refill at Rate per Period; Burst 0 means Rate. Window algorithms allow Rate
// units per window and ignore Burst. For Concurrency, Rate is the number of
// leases in flight and Period how long a lease lives unless released.
//
// Period is counted in whole microseconds. A Limit is a plain value: it is
// validated on every call, and a bad one is an *InputError before any I/O.
type Limit struct {
	Algorithm Algorithm
	Rate      int64
	Period    time.Duration
	Burst     int64
}

// PerSecond returns a GCRA limit of n per second with burst n.
func PerSecond(n int64) Limit { return Limit{Rate: n, Period: time.Second, Burst: n} }

// PerMinute returns a GCRA limit of n per minute with burst n.
func PerMinute(n int64) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }

// PerHour returns a GCRA limit of n per hour with burst n.
func PerHour(n int64) Limit { return Limit{Rate: n, Period: time.Hour, Burst: n} }

// PerDay returns a GCRA limit of n per day (24 hours) with burst n.
func PerDay(n int64) Limit { return Limit{Rate: n, Period: 24 * time.Hour, Burst: n} }

// Capacity returns the most units the limit admits at once: Burst (or Rate
// when Burst is 0) for bucket algorithms, Rate for the others. It is the
// Limit field of every Result.
func (l Limit) Capacity() int64 {
	switch l.Algorithm {
	case GCRA, TokenBucket, LeakyBucket:
		if l.Burst > 0 {
			return l.Burst
		}
	}
	return l.Rate
}

// String formats l as ParseLimit reads it, with the algorithm and burst
// when they are not the defaults, for example "10/1s" or
// "100/1m0s fixed_window" or "10/1s burst=20".
func (l Limit) String() string {
	s := strconv.FormatInt(l.Rate, 10) + "/" + l.Period.String()
	if l.Algorithm != GCRA {
		s += " " + l.Algorithm.String()
	}
	if l.Burst != 0 && l.Burst != l.Rate {
		s += " burst=" + strconv.FormatInt(l.Burst, 10)
	}
	return s
}

// Validate reports whether l can be used, as an *InputError when not.
func (l Limit) Validate() error {
	_, err := l.params()
	return err
}

// params validates l and computes its constants for the step functions and
// the scripts.
func (l Limit) params() (algo.Params, error) {
	switch {
	case l.Algorithm >= numAlgorithms:
		return algo.Params{}, &InputError{Field: "algorithm", Value: strconv.Itoa(int(l.Algorithm)), Reason: "unknown algorithm"}
	case l.Rate <= 0:
		return algo.Params{}, &InputError{Field: "rate", Value: strconv.FormatInt(l.Rate, 10), Reason: "must be positive"}
	case l.Period < time.Microsecond:
		return algo.Params{}, &InputError{Field: "period", Value: l.Period.String(), Reason: "must be at least 1µs"}
	case l.Period%time.Microsecond != 0:
		return algo.Params{}, &InputError{Field: "period", Value: l.Period.String(), Reason: "must be a whole number of microseconds"}
	case l.Burst < 0:
		return algo.Params{}, &InputError{Field: "burst", Value: strconv.FormatInt(l.Burst, 10), Reason: "must not be negative"}
	}
	p, err := algo.NewParams(algo.Kind(l.Algorithm), l.Rate, l.Period.Microseconds(), l.Burst)
	if err != nil {
		return p, &InputError{Field: "rate", Value: l.String(), Reason: err.Error()}
	}
	return p, nil
}

// MaxKeyLen is the longest key a limiter accepts, in bytes.
const MaxKeyLen = 1024

// checkKey validates a user key: it becomes a Redis hash tag, so it must be
// non-empty and must not contain '}'.
func checkKey(key string) error {
	switch {
	case key == "":
		return &InputError{Field: "key", Value: key, Reason: "must not be empty"}
	case len(key) > MaxKeyLen:
		return &InputError{Field: "key", Value: key[:32] + "…", Reason: "longer than MaxKeyLen (" + strconv.Itoa(MaxKeyLen) + " bytes)"}
	case strings.IndexByte(key, '}') >= 0:
		return &InputError{Field: "key", Value: key, Reason: "must not contain '}' (it would change the Redis Cluster hash tag)"}
	}
	return nil
}

// CheckRequest validates one request's key, limit and cost as every
// limiter does before any I/O, returning an *InputError for bad input.
// Implementations of Limiter outside this package use it so that all tiers
// reject the same input with the same errors.
func CheckRequest(key string, l Limit, cost int64) error {
	_, err := check(key, l, cost)
	return err
}

// check is CheckRequest that also returns the limit's constants.
func check(key string, l Limit, cost int64) (algo.Params, error) {
	if err := checkKey(key); err != nil {
		return algo.Params{}, err
	}
	p, err := l.params()
	if err != nil {
		return p, err
	}
	if cost < 0 || (l.Algorithm == Concurrency && cost > 1) {
		return p, &InputError{Field: "cost", Value: strconv.FormatInt(cost, 10), Reason: "must be non-negative (0 or 1 for concurrency)"}
	}
	return p, nil
}

// ParseLimit parses a limit written as RATE/PERIOD, optionally followed by
// an algorithm name and "burst=N", separated by spaces:
//
//	limit  = rate "/" period { " " option }
//	period = [count] unit | Go duration
//	unit   = "s" | "sec" | "second" | "m" | "min" | "minute" | "h" | "hour" | "d" | "day"
//	option = algorithm name | "burst=" integer
//
// Examples: "10/s", "100/m", "5000/1h", "10/30s", "3/250ms",
// "100/m fixed_window", "10/s burst=20". The algorithm defaults to GCRA and
// the burst to the rate.
func ParseLimit(s string) (Limit, error) {
	fields := strings.Fields(s)
	bad := func(reason string) (Limit, error) {
		return Limit{}, &InputError{Field: "limits", Value: s, Reason: reason}
	}
	if len(fields) == 0 {
		return bad("empty")
	}
	rateStr, perStr, ok := strings.Cut(fields[0], "/")
	if !ok {
		return bad(`want RATE/PERIOD, like "10/s"`)
	}
	rate, err := strconv.ParseInt(rateStr, 10, 64)
	if err != nil {
		return bad("rate is not a whole number")
	}
	period, err := parsePeriod(perStr)
	if err != nil {
		return bad(err.Error())
	}
	l := Limit{Rate: rate, Period: period}
	for _, f := range fields[1:] {
		if b, ok := strings.CutPrefix(f, "burst="); ok {
			if l.Burst, err = strconv.ParseInt(b, 10, 64); err != nil {
				return bad("burst is not a whole number")
			}
			continue
		}
		if l.Algorithm, err = ParseAlgorithm(f); err != nil {
			return bad("unknown option " + strconv.Quote(f))
		}
	}
	if l.Burst == 0 {
		l.Burst = l.Rate
	}
	if err := l.Validate(); err != nil {
		return Limit{}, err
	}
	return l, nil
}

var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hour": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour,
}

func parsePeriod(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if u, ok := units[s[i:]]; ok {
		count := int64(1)
		if i > 0 {
			var err error
			if count, err = strconv.ParseInt(s[:i], 10, 64); err != nil || count <= 0 || count > math.MaxInt64/int64(u) {
				return 0, errors.New("period count out of range")
			}
		}
		return time.Duration(count) * u, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`period is neither a unit (s, m, h, d) nor a Go duration`)
	}
	return d, nil
}

// Request is one check in a batch: may Cost units pass for Key under Limit?
type Request struct {
	Key   string
	Limit Limit
	Cost  int64
}

// Never is the RetryAfter of a request that can never pass, because its cost
// is larger than the limit's capacity. Like rate.InfDuration, it is the
// largest Duration.
const Never time.Duration = math.MaxInt64

// Names of the tiers that decide, as reported in Result.Tier.
const (
	TierRedis      = "redis"
	TierMongo      = "mongo"
	TierMemory     = "memory"
	TierFailOpen   = "fail-open"
	TierFailClosed = "fail-closed"
)

// Result is a limiter's decision. Every tier fills it the same way.
type Result struct {
	// Allowed reports whether the request may pass. When false, nothing was
	// consumed.
	Allowed bool
	// Limit is the limit's capacity as applied (see Limit.Capacity).
	Limit int64
	// Remaining is the number of units left right after this decision; never
	// negative. After a denial it is what is still there.
	Remaining int64
	// ResetAfter is the time until the key is back to its full, unused state.
	ResetAfter time.Duration
	// RetryAfter is, when denied, the earliest time after which the same
	// request can pass (Never if it never can); 0 when allowed.
	RetryAfter time.Duration
	// Delay is, for LeakyBucket, how long the caller should wait before
	// proceeding; 0 for the other algorithms.
	Delay time.Duration
	// Tier names the tier that decided: TierRedis, TierMemory, ...
	Tier string
}

// Limiter is what every tier implements: the Redis Client, memfallback, the
// mongo tier and the failover coordinator that wraps them. Implementations
// are safe for simultaneous use by multiple goroutines.
type Limiter interface {
	// AllowN reports whether n units may pass for key under l now, and
	// consumes them if so. n = 0 asks without consuming.
	AllowN(ctx context.Context, key string, l Limit, n int64) (Result, error)
	// AllowMany decides each request as AllowN would, in order, and returns
	// the results in request order. Failures of single items after the call
	// reached the backend are reported as a *BatchError.
	AllowMany(ctx context.Context, reqs []Request) ([]Result, error)
	// Reset forgets key's state under l: the next check finds a full limit.
	Reset(ctx context.Context, key string, l Limit) error
}

// Peeker is implemented by limiters that can report a key's state without
// consuming anything.
type Peeker interface {
	// Peek returns the state of key under l. Remaining is what is available
	// now, and Allowed reports whether a request of cost 1 would pass.
	Peek(ctx context.Context, key string, l Limit) (Result, error)
}

// MultiLimiter is implemented by limiters that check several limits on one
// key all or nothing.
type MultiLimiter interface {
	// AllowAll consumes n units for key under every limit in limits, or under
	// none of them when any denies. The Result is the binding one: when
	// denied, the denying limit with the longest RetryAfter; when allowed,
	// the limit with the least Remaining; ResetAfter and Delay are the
	// largest of all.
	AllowAll(ctx context.Context, key string, n int64, limits ...Limit) (Result, error)
}

// MultiResultLimiter is implemented by limiters whose all-or-nothing check
// also reports each limit's own Result, for callers that name every limit
// that denied (an HTTP 429's violated policies, say).
type MultiResultLimiter interface {
	// AllowAllResults is AllowAll with the Result of each limit, in the
	// order of limits. When any limit denies, none is charged and every
	// Result has Allowed false; those that would have passed alone have
	// RetryAfter 0 and report what is there. Combine of the Results is what
	// AllowAll returns, and Binding says which limit that is.
	AllowAllResults(ctx context.Context, key string, n int64, limits ...Limit) ([]Result, error)
}

// Leaser is implemented by limiters that hand out Concurrency leases.
type Leaser interface {
	// Acquire takes a lease for key under l, a Concurrency limit. When the
	// Result is not Allowed the lease is nil.
	Acquire(ctx context.Context, key string, l Limit) (*Lease, Result, error)
}

// Lease is one slot of a Concurrency limit, held until Release or until the
// limit's Period passes.
type Lease struct {
	Key   string
	Limit Limit
	ID    string // random, unique per lease

	release func(ctx context.Context, l *Lease) error
}

// NewLease returns a lease whose Release calls release. It is for
// implementations of Leaser outside this package.
func NewLease(key string, l Limit, id string, release func(ctx context.Context, l *Lease) error) *Lease {
	return &Lease{Key: key, Limit: l, ID: id, release: release}
}

// Release gives the slot back. Releasing a lease that already expired or was
// released is not an error.
func (l *Lease) Release(ctx context.Context) error {
	return l.release(ctx, l)
}

// Binding returns the index of the binding result among the results of
// several limits checked together: when any denies, the denying one with
// the longest RetryAfter; when all allow, the one with the least Remaining.
// It returns 0 for no results.
func Binding(rs []Result) int {
	allowed := true
	for _, r := range rs {
		allowed = allowed && r.Allowed
	}
	best := 0
	for i := 1; i < len(rs); i++ {
		r, b := rs[i], rs[best]
		if allowed && r.Remaining < b.Remaining || !allowed && !r.Allowed && (b.Allowed || r.RetryAfter > b.RetryAfter) {
			best = i
		}
	}
	return best
}

// Combine returns the binding result of several limits checked together,
// as AllowAll describes: the result Binding picks, with the least Remaining
// and the longest ResetAfter and Delay of them all. It returns the zero
// Result for no results.
func Combine(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	out := rs[Binding(rs)]
	allowed := true
	for _, r := range rs {
		allowed = allowed && r.Allowed
		out.ResetAfter, out.Delay, out.Remaining = max(out.ResetAfter, r.ResetAfter), max(out.Delay, r.Delay), min(out.Remaining, r.Remaining)
	}
	out.Allowed = allowed
	if allowed {
		out.RetryAfter = 0
	}
	return out
}

// Wait blocks until key may pass one unit under l, or ctx ends. It is
// shorthand for WaitN(ctx, lim, key, l, 1).
func Wait(ctx context.Context, lim Limiter, key string, l Limit) error {
	return WaitN(ctx, lim, key, l, 1)
}

// WaitN blocks until n units pass for key under l on lim, consuming them,
// or until ctx ends. It returns ErrNeverAllowed when n exceeds the limit's
// capacity, and ErrWouldExceedDeadline, without waiting, when the request
// could not pass before ctx's deadline. For LeakyBucket it then waits out
// the Delay it was given; the slot is taken even if ctx ends during that
// wait.
func WaitN(ctx context.Context, lim Limiter, key string, l Limit, n int64) error {
	for {
		r, err := lim.AllowN(ctx, key, l, n)
		if err != nil {
			return err
		}
		if r.Allowed {
			return sleep(ctx, r.Delay)
		}
		if r.RetryAfter == Never {
			return ErrNeverAllowed
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < r.RetryAfter {
			return ErrWouldExceedDeadline
		}
		if err := sleep(ctx, r.RetryAfter); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx ends, returning ctx.Err() in that case.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
