package failover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/smartlimit/smartlimit"
)

// Defaults of Options.
const (
	// DefaultTimeout is the default value of Options.Timeout.
	DefaultTimeout = 50 * time.Millisecond
	// DefaultHealthInterval is the default value of Options.HealthInterval.
	DefaultHealthInterval = time.Second
	// DefaultRetryAfter is the default value of Options.RetryAfter.
	DefaultRetryAfter = time.Second
	// DefaultProbeKey is the default value of Options.ProbeKey.
	DefaultProbeKey = "smartlimit-failover-probe"
)

// DefaultProbeLimit is the default value of Options.ProbeLimit.
var DefaultProbeLimit = smartlimit.PerSecond(1)

// ErrUnsupported means no tier of the Coordinator implements the
// operation (Peek, AllowAll or Acquire): a configuration error, not an
// outage, so no policy answers for it.
var ErrUnsupported = errors.New("failover: no tier supports this operation")

// Tier is one limiter in the Coordinator's order.
type Tier struct {
	// Name identifies the tier in Result.Tier, Health and the Hook, for
	// example smartlimit.TierRedis. Names must be unique and non-empty.
	Name string
	// Limiter decides. It must honor its context's deadline: the
	// Coordinator bounds each call with one but cannot stop a call that
	// ignores it.
	Limiter smartlimit.Limiter
	// Timeout is the deadline of each call to this tier. Default
	// Options.Timeout. Negative means none, for an in-process tier that
	// never blocks (a memfallback.Store): it spares the timer that a
	// deadline costs, about 4 allocations and a few hundred nanoseconds
	// per check.
	Timeout time.Duration
}

// Options configures a Coordinator. The zero value means the defaults.
type Options struct {
	// Timeout is the deadline of each call to a tier whose Tier.Timeout is
	// zero: a slow tier costs a caller at most this, then the next tier is
	// tried. Default DefaultTimeout: Redis answers in well under a
	// millisecond, and a limiter sits in front of every request. It must
	// not be negative; see Tier.Timeout for a tier without a deadline.
	Timeout time.Duration
	// Breaker configures each tier's circuit breaker.
	Breaker BreakerOptions
	// HealthInterval is the time between background health checks of each
	// tier. Default DefaultHealthInterval; negative disables them (Health
	// still checks when called).
	HealthInterval time.Duration
	// ProbeKey and ProbeLimit are what a health check asks each tier, with
	// cost 0, so that it consumes nothing but runs the real code path (on
	// Redis, an EVALSHA of the script). Defaults DefaultProbeKey and
	// DefaultProbeLimit.
	ProbeKey   string
	ProbeLimit smartlimit.Limit
	// Policy chooses the policy for a key and limit when no tier can
	// answer; WithPolicy overrides it per call. Default: FailClosed for
	// all. PolicyByLimit builds one from a map.
	Policy func(key string, l smartlimit.Limit) Policy
	// Local is the limiter the Local policy decides in: an in-process
	// store such as memfallback.Store, configured with a local share. Nil
	// makes Local act as FailClosed.
	Local smartlimit.Limiter
	// RetryAfter is the RetryAfter of a FailClosed denial. Default
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Hook receives breaker transitions and every call's outcome.
	Hook Hook
	// Clock is the breakers' and latencies' clock. Default time.Now.
	Clock func() time.Time
	// Rand returns numbers in [0, 1) for the cooldown jitter; the
	// Coordinator serializes calls to it, so a seeded
	// rand.New(...).Float64 will do. Default math/rand/v2's Float64.
	Rand func() float64
}

// Coordinator is a smartlimit.Limiter that asks an ordered list of tiers
// (for example redis → mongo → memory) and answers from the first one that
// can, with a deadline per call and a circuit breaker per tier; when none
// can, the Policy decides. See the package documentation for what that
// means for the counts.
//
// It is safe for simultaneous use by multiple goroutines. Close it to stop
// its health checks; the tiers remain the caller's to close.
type Coordinator struct {
	tiers      []*tier
	timeout    time.Duration
	retryAfter time.Duration
	policyFn   func(string, smartlimit.Limit) Policy
	local      smartlimit.Limiter
	hook       Hook
	clock      func() time.Time
	probeKey   string
	probeLimit smartlimit.Limit
	interval   time.Duration
	breaker    BreakerOptions

	randMu sync.Mutex
	rand   func() float64

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// The tiers that implement each optional interface, in order: an
	// operation asks only its own, and none means ErrUnsupported.
	peekTiers, allowAllTiers, allowAllResultsTiers, acquireTiers []*tier
}

var _ interface {
	smartlimit.Limiter
	smartlimit.Peeker
	smartlimit.MultiLimiter
	smartlimit.MultiResultLimiter
	smartlimit.Leaser
} = (*Coordinator)(nil)

// tier is a Tier with its breaker, its optional interfaces and its health.
type tier struct {
	name    string
	lim     smartlimit.Limiter
	timeout time.Duration
	br      breaker

	peeker             smartlimit.Peeker             // nil unless lim is one
	multiLimiter       smartlimit.MultiLimiter       // nil unless lim is one
	multiResultLimiter smartlimit.MultiResultLimiter // nil unless lim is one
	leaser             smartlimit.Leaser             // nil unless lim is one

	mu        sync.Mutex // guards what follows
	up        bool
	checkedAt time.Time
	latency   time.Duration
	lastErr   error
	lastErrAt time.Time
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("failover: "+format, args...)
}

// New returns a Coordinator over tiers, in order, and starts their health
// checks. It returns an error for a bad configuration.
func New(tiers []Tier, opts Options) (*Coordinator, error) {
	if len(tiers) == 0 {
		return nil, errorf("New needs at least one tier")
	}
	if opts.Timeout < 0 || opts.RetryAfter < 0 {
		return nil, errorf("Timeout and RetryAfter must not be negative")
	}
	br, err := opts.Breaker.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		timeout:    cmp.Or(opts.Timeout, DefaultTimeout),
		retryAfter: cmp.Or(opts.RetryAfter, DefaultRetryAfter),
		policyFn:   opts.Policy,
		local:      opts.Local,
		hook:       opts.Hook,
		clock:      opts.Clock,
		rand:       opts.Rand,
		probeKey:   opts.ProbeKey,
		probeLimit: opts.ProbeLimit,
		interval:   cmp.Or(opts.HealthInterval, DefaultHealthInterval),
		breaker:    br,
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.probeKey == "" {
		c.probeKey = DefaultProbeKey
	}
	if c.probeLimit == (smartlimit.Limit{}) {
		c.probeLimit = DefaultProbeLimit
	}
	if err := smartlimit.CheckRequest(c.probeKey, c.probeLimit, 0); err != nil {
		return nil, errorf("probe: %w", err)
	}
	seen := map[string]bool{}
	for i, t := range tiers {
		switch {
		case t.Limiter == nil:
			return nil, errorf("tier %d (%q) has no Limiter", i, t.Name)
		case t.Name == "":
			return nil, errorf("tier %d has no Name", i)
		case t.Name == smartlimit.TierFailOpen || t.Name == smartlimit.TierFailClosed:
			return nil, errorf("tier %d: the name %q is the policy's", i, t.Name)
		case seen[t.Name]:
			return nil, errorf("tier name %q used twice", t.Name)
		}
		seen[t.Name] = true
		ti := &tier{name: t.Name, lim: t.Limiter, timeout: cmp.Or(t.Timeout, c.timeout), up: true}
		ti.peeker, _ = t.Limiter.(smartlimit.Peeker)
		ti.multiLimiter, _ = t.Limiter.(smartlimit.MultiLimiter)
		ti.multiResultLimiter, _ = t.Limiter.(smartlimit.MultiResultLimiter)
		ti.leaser, _ = t.Limiter.(smartlimit.Leaser)
		ti.br.opts, ti.br.clock, ti.br.rand = &c.breaker, c.clock, c.jitterRand
		c.tiers = append(c.tiers, ti)
	}
	c.peekTiers = tiersWith(c.tiers, func(t *tier) bool { return t.peeker != nil })
	c.allowAllTiers = tiersWith(c.tiers, func(t *tier) bool { return t.multiLimiter != nil })
	c.allowAllResultsTiers = tiersWith(c.tiers, func(t *tier) bool { return t.multiResultLimiter != nil })
	c.acquireTiers = tiersWith(c.tiers, func(t *tier) bool { return t.leaser != nil })
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	if c.interval > 0 {
		for _, t := range c.tiers {
			c.wg.Add(1)
			go c.healthLoop(ctx, t)
		}
	}
	return c, nil
}

// tiersWith returns the tiers for which has reports true, in order.
func tiersWith(tiers []*tier, has func(*tier) bool) []*tier {
	var out []*tier
	for _, t := range tiers {
		if has(t) {
			out = append(out, t)
		}
	}
	return out
}

func (c *Coordinator) jitterRand() float64 {
	c.randMu.Lock()
	defer c.randMu.Unlock()
	return c.rand()
}

// Close stops the health checks and waits for them to end. It does not
// close the tiers. Checks still work after Close, without background
// health checks. Close is idempotent and always returns nil.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.wg.Wait()
	})
	return nil
}

// badInput reports whether err is one of the input errors that every
// limiter returns before any I/O.
func badInput(err error) bool {
	return errors.Is(err, smartlimit.ErrInvalidLimit) || errors.Is(err, smartlimit.ErrInvalidKey) || errors.Is(err, smartlimit.ErrInvalidCost)
}

// perRequest reports whether err is the condition of the request rather
// than of the tier: it matches smartlimit.ErrNotDecided or, for a batch,
// every item that failed does.
func perRequest(err error) bool {
	var be *smartlimit.BatchError
	if errors.As(err, &be) { // errors.Is would match a batch with one such item
		for _, e := range be.Errs {
			if e != nil && !errors.Is(e, smartlimit.ErrNotDecided) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, smartlimit.ErrNotDecided)
}

// perRequestBatch returns err as the *smartlimit.BatchError of a batch of
// n whose failed items all failed per request, or nil if it is not one.
func perRequestBatch(err error, n int) *smartlimit.BatchError {
	var be *smartlimit.BatchError
	if perRequest(err) && errors.As(err, &be) && len(be.Errs) == n {
		return be
	}
	return nil
}

// try calls ask on t, if t's breaker lets it, under t's deadline, and
// records the outcome. answered reports whether t answered; err is what
// the caller must get at once (bad input, or its own context ended) and
// stops the walk down the tiers. A per-request error neither answers nor
// stops the walk, and does not count for t's breaker; it sets *undecided,
// which makes the policy stricter (see policy), unless undecided is nil
// (a reset or a probe, which no policy follows).
func (c *Coordinator) try(ctx context.Context, t *tier, op Op, undecided *bool, ask func(context.Context, *tier) (allowed bool, err error)) (answered bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err // the caller has gone; some tiers would answer anyway
	}
	tk, ok, ch := t.br.allow()
	c.changed(ctx, t, ch, nil)
	if !ok {
		return false, nil
	}
	measure := c.hook.Attempt != nil || op == OpProbe
	var start time.Time
	if measure {
		start = c.clock()
	}
	tctx, cancel := ctx, context.CancelFunc(nil)
	if t.timeout > 0 {
		tctx, cancel = context.WithTimeout(ctx, t.timeout)
	}
	allowed, err := ask(tctx, t)
	timedOut := err != nil && ctx.Err() == nil && tctx.Err() == context.DeadlineExceeded
	if cancel != nil {
		cancel()
	}

	o, skip := success, false
	switch {
	case err == nil:
	case badInput(err):
		o = neutral
	case ctx.Err() != nil:
		o, err = neutral, ctx.Err()
	case perRequest(err):
		o, skip = neutral, true
		if undecided != nil {
			*undecided = true
		}
	default:
		o = failure
	}
	var latency time.Duration
	if measure {
		latency = c.clock().Sub(start)
	}
	ch = t.br.record(tk, o)
	if o == failure || (op == OpProbe && o != neutral) {
		t.note(c.clock, op, err, o == failure, latency)
	}
	if c.hook.Attempt != nil {
		c.hook.Attempt(ctx, Attempt{Tier: t.name, Op: op, Latency: latency, Err: err, Counted: o == failure, TimedOut: timedOut, Allowed: allowed && err == nil})
	}
	c.changed(ctx, t, ch, err)
	switch {
	case o == success:
		return true, nil
	case o == neutral && !skip:
		return false, err
	}
	return false, nil
}

// changed reports a breaker transition to the hook.
func (c *Coordinator) changed(ctx context.Context, t *tier, ch change, err error) {
	if ch.from == ch.to || c.hook.StateChange == nil {
		return
	}
	sc := StateChange{Tier: t.name, From: ch.from, To: ch.to, Cooldown: ch.cooldown}
	if ch.to == Open {
		sc.Err = err
	}
	c.hook.StateChange(ctx, sc)
}

// An operation is what one call of a check (AllowN, AllowMany, AllowAll,
// AllowAllResults, Peek, Acquire) gives walk besides its Op and tiers: how
// to ask a tier, and what the policy answers when no tier does. Its
// functions leave the answer in the call's own variables, so walk knows
// nothing of their types. walk only calls them, so they stay on the
// caller's stack (TestWalkDoesNotAllocate). The tiers are a parameter of
// walk, not a field here: they escape through try, and escape analysis,
// which does not tell one field from another, would move the functions to
// the heap with them.
type operation struct {
	// ask calls t (under the deadline in ctx) and keeps its answer, with
	// Result.Tier set to t's name; allowed is the decision, for the hook.
	ask func(ctx context.Context, t *tier) (allowed bool, err error)
	// settled, when set, reports whether nothing is left to decide after
	// a tier that did not answer: an AllowMany tier may decide part of a
	// batch (see AllowMany).
	settled func() bool
	// fallback answers when no tier did, by the policy; undecided
	// reports whether a tier could not decide the request (see policy).
	// It returns the answer's Tier and decision, for the hook.
	fallback func(ctx context.Context, undecided bool) (tier string, allowed bool)
}

// walk asks tiers, those that implement op, in order, each through try
// (its breaker, its deadline, the outcome recorded), until one answers: a
// tier that fails, times out or has its breaker open passes the call to
// the next, as does one that cannot decide this request, which also makes
// the policy stricter. When no tier answers, o.fallback does, and the hook
// hears of it. The error, bad input or the caller's context ending, stops
// the walk at once and is the caller's.
func (c *Coordinator) walk(ctx context.Context, op Op, tiers []*tier, o *operation) error {
	var undecided bool // a tier could not decide this request (see policy)
	for _, t := range tiers {
		answered, err := c.try(ctx, t, op, &undecided, o.ask)
		if err != nil {
			return err
		}
		if answered || o.settled != nil && o.settled() {
			return nil
		}
	}
	tierName, allowed := o.fallback(ctx, undecided)
	if c.hook.Attempt != nil {
		c.hook.Attempt(ctx, Attempt{Tier: tierName, Op: op, Allowed: allowed, Fallback: true})
	}
	return nil
}

// policyResult is policy p's answer to a request of n units under l that
// no tier answered: FailOpen's; for Local, the answer of local, which asks
// Options.Local under Options.Timeout; FailClosed's otherwise, and when
// Local has no Options.Local or it fails.
func (c *Coordinator) policyResult(ctx context.Context, p Policy, l smartlimit.Limit, n int64, local func(context.Context, smartlimit.Limiter) (smartlimit.Result, error)) smartlimit.Result {
	switch {
	case p == FailOpen:
		return openResult(l, n)
	case p == Local && c.local != nil:
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		r, err := local(lctx, c.local)
		cancel()
		if err == nil {
			return r
		}
	}
	return c.closedResult(l)
}

// Allow is shorthand for AllowN(ctx, key, l, 1).
func (c *Coordinator) Allow(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	return c.AllowN(ctx, key, l, 1)
}

// AllowN asks the tiers in order whether n units may pass for key under l,
// and returns the first answer, with Result.Tier set to that tier's Name.
// A tier's per-request error (smartlimit.ErrNotDecided) sends the call on
// to the next tier without counting for its breaker. When no tier answers,
// the policy for key and l decides. Bad input is an error before any tier
// is asked; the only other errors are the caller's context ending.
func (c *Coordinator) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	if err := smartlimit.CheckRequest(key, l, n); err != nil {
		return smartlimit.Result{}, err
	}
	var r smartlimit.Result
	err := c.walk(ctx, OpAllow, c.tiers, &operation{
		ask: func(ctx context.Context, t *tier) (bool, error) {
			var err error
			r, err = t.lim.AllowN(ctx, key, l, n)
			r.Tier = t.name
			return r.Allowed, err
		},
		fallback: func(ctx context.Context, undecided bool) (string, bool) {
			r = c.policyResult(ctx, c.policy(ctx, key, l, undecided), l, n, func(ctx context.Context, local smartlimit.Limiter) (smartlimit.Result, error) {
				return local.AllowN(ctx, key, l, n)
			})
			return r.Tier, r.Allowed
		},
	})
	if err != nil {
		return smartlimit.Result{}, err
	}
	return r, nil
}

// Wait blocks until one unit passes for key under l, or ctx ends; it is
// smartlimit.Wait on c.
func (c *Coordinator) Wait(ctx context.Context, key string, l smartlimit.Limit) error {
	return smartlimit.WaitN(ctx, c, key, l, 1)
}

// WaitN is smartlimit.WaitN on c. Under FailClosed with every tier down it
// waits in steps of Options.RetryAfter until a tier answers or ctx ends.
func (c *Coordinator) WaitN(ctx context.Context, key string, l smartlimit.Limit, n int64) error {
	return smartlimit.WaitN(ctx, c, key, l, n)
}

// AllowMany decides the requests on the first tier that answers the whole
// batch, which moves to the next tier as a whole when a tier fails. A
// *smartlimit.BatchError from a tier counts as that tier failing for the
// whole batch: the items it did decide may have consumed units there, and
// are decided again, and counted again, on the next tier. The exception is
// a BatchError whose errors all match smartlimit.ErrNotDecided: the tier's
// other results stand, and only the failed items go on to the next tier.
// When no tier answers, each request gets its own policy's answer (Local
// requests go to Options.Local in one AllowMany). Bad input in any request
// is an error before any tier is asked.
func (c *Coordinator) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	for i, r := range reqs {
		if err := smartlimit.CheckRequest(r.Key, r.Limit, r.Cost); err != nil {
			return nil, fmt.Errorf("failover: request %d: %w", i, err)
		}
	}
	if len(reqs) == 0 {
		return []smartlimit.Result{}, nil
	}
	// Each tier is asked about the pending requests: all of reqs, until a
	// tier decides some of them and leaves the others pending.
	var (
		rs      []smartlimit.Result // one per request, from the first tier that decided any
		pending = reqs
		idx     []int // pending[j] is reqs[idx[j]]; nil while pending is reqs
	)
	at := func(j int) int { // the index in reqs and rs of pending[j]
		if idx == nil {
			return j
		}
		return idx[j]
	}
	err := c.walk(ctx, OpAllowMany, c.tiers, &operation{
		ask: func(ctx context.Context, t *tier) (bool, error) {
			got, err := t.lim.AllowMany(ctx, pending)
			if len(got) != len(pending) && (err == nil || perRequest(err)) {
				return false, fmt.Errorf("%w: %d results for %d requests", smartlimit.ErrUnexpectedReply, len(got), len(pending))
			}
			var be *smartlimit.BatchError // the items it could not decide, if err is per-request
			if err != nil {
				if be = perRequestBatch(err, len(pending)); be == nil {
					return false, err // the next tier is asked about the whole batch
				}
			}
			// The tier decided the pending requests, or all but those it
			// failed per request: those decisions count there and stand,
			// and the next tiers (or the policy) are asked about the rest.
			if rs == nil {
				rs = got // pending is reqs
			}
			var rest []smartlimit.Request
			var restIdx []int
			for j := range got {
				if be != nil && be.Errs[j] != nil {
					rest, restIdx = append(rest, pending[j]), append(restIdx, at(j))
					continue
				}
				i := at(j)
				rs[i] = got[j]
				rs[i].Tier = t.name
			}
			if be != nil {
				pending, idx = rest, restIdx
			}
			return false, err
		},
		settled: func() bool { return len(pending) == 0 },
		fallback: func(ctx context.Context, undecided bool) (string, bool) {
			if rs == nil {
				rs = make([]smartlimit.Result, len(reqs))
			}
			var localIdx []int
			var localReqs []smartlimit.Request
			for j, r := range pending {
				i := at(j)
				switch c.policy(ctx, r.Key, r.Limit, undecided) {
				case FailOpen:
					rs[i] = openResult(r.Limit, r.Cost)
				case Local:
					if c.local != nil {
						localIdx = append(localIdx, i)
						localReqs = append(localReqs, r)
						continue
					}
					rs[i] = c.closedResult(r.Limit)
				default:
					rs[i] = c.closedResult(r.Limit)
				}
			}
			if len(localReqs) > 0 {
				lctx, cancel := context.WithTimeout(ctx, c.timeout)
				lrs, err := c.local.AllowMany(lctx, localReqs)
				cancel()
				for j, i := range localIdx {
					if err == nil && len(lrs) == len(localReqs) {
						rs[i] = lrs[j]
					} else {
						rs[i] = c.closedResult(reqs[i].Limit)
					}
				}
			}
			return rs[at(0)].Tier, false
		},
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// AllowAll consumes n units for key under every limit, or under none, on
// the first tier that implements smartlimit.MultiLimiter and answers. When
// none answers, the strictest of the limits' policies decides for all of
// them (FailClosed, then Local, then FailOpen), and the Result is the
// binding one, as smartlimit.Combine describes.
func (c *Coordinator) AllowAll(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) (smartlimit.Result, error) {
	if err := c.checkAllowAll("AllowAll", c.allowAllTiers, key, n, limits); err != nil {
		return smartlimit.Result{}, err
	}
	var r smartlimit.Result
	err := c.walk(ctx, OpAllowAll, c.allowAllTiers, &operation{
		ask: func(ctx context.Context, t *tier) (bool, error) {
			var err error
			r, err = t.multiLimiter.AllowAll(ctx, key, n, limits...)
			r = smartlimit.Combine([]smartlimit.Result{r}) // a combined Result has no RetryAfter when allowed
			r.Tier = t.name
			return r.Allowed, err
		},
		fallback: func(ctx context.Context, undecided bool) (string, bool) {
			r = smartlimit.Combine(c.allowAllFallback(ctx, key, n, limits, undecided, func(ctx context.Context, local smartlimit.Limiter) ([]smartlimit.Result, error) {
				m, ok := local.(smartlimit.MultiLimiter)
				if !ok {
					return nil, ErrUnsupported
				}
				lr, err := m.AllowAll(ctx, key, n, limits...)
				return []smartlimit.Result{lr}, err
			}))
			return r.Tier, r.Allowed
		},
	})
	if err != nil {
		return smartlimit.Result{}, err
	}
	return r, nil
}

// AllowAllResults is AllowAll with each limit's own Result, in the order of
// limits (see smartlimit.MultiResultLimiter). It asks only the tiers that
// implement smartlimit.MultiResultLimiter; when none answers, the policy
// decides as for AllowAll, each limit reported on its own.
func (c *Coordinator) AllowAllResults(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) ([]smartlimit.Result, error) {
	if err := c.checkAllowAll("AllowAllResults", c.allowAllResultsTiers, key, n, limits); err != nil {
		return nil, err
	}
	var rs []smartlimit.Result
	err := c.walk(ctx, OpAllowAll, c.allowAllResultsTiers, &operation{
		ask: func(ctx context.Context, t *tier) (bool, error) {
			var err error
			if rs, err = t.multiResultLimiter.AllowAllResults(ctx, key, n, limits...); err != nil {
				return false, err
			}
			for i := range rs {
				rs[i].Tier = t.name
			}
			return smartlimit.Combine(rs).Allowed, nil
		},
		fallback: func(ctx context.Context, undecided bool) (string, bool) {
			rs = c.allowAllFallback(ctx, key, n, limits, undecided, func(ctx context.Context, local smartlimit.Limiter) ([]smartlimit.Result, error) {
				m, ok := local.(smartlimit.MultiResultLimiter)
				if !ok {
					return nil, ErrUnsupported
				}
				return m.AllowAllResults(ctx, key, n, limits...)
			})
			r := smartlimit.Combine(rs)
			return r.Tier, r.Allowed
		},
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// checkAllowAll validates the arguments of method, AllowAll or
// AllowAllResults, and returns ErrUnsupported when no tier implements it
// (tiers, the ones that do, is empty).
func (c *Coordinator) checkAllowAll(method string, tiers []*tier, key string, n int64, limits []smartlimit.Limit) error {
	if len(limits) == 0 {
		return &smartlimit.InputError{Field: "limits", Value: "", Reason: "AllowAll needs at least one limit"}
	}
	for _, l := range limits {
		if err := smartlimit.CheckRequest(key, l, n); err != nil {
			return err
		}
		if l.Algorithm == smartlimit.Concurrency {
			return &smartlimit.InputError{Field: "algorithm", Value: l.String(), Reason: "AllowAll does not take Concurrency limits; use Acquire"}
		}
	}
	if len(tiers) == 0 {
		return fmt.Errorf("%w: %s", ErrUnsupported, method)
	}
	return nil
}

// allowAllFallback is the policy's answer, one Result per limit, to an
// AllowAll or AllowAllResults that no tier answered: the strictest of the
// limits' policies decides for all of them. For Local, local asks
// Options.Local under Options.Timeout; without it, or when it fails, Local
// acts as FailClosed.
func (c *Coordinator) allowAllFallback(ctx context.Context, key string, n int64, limits []smartlimit.Limit, undecided bool, local func(context.Context, smartlimit.Limiter) ([]smartlimit.Result, error)) []smartlimit.Result {
	p := FailOpen
	for _, l := range limits {
		if q := c.policy(ctx, key, l, undecided); q.strictness() > p.strictness() {
			p = q
		}
	}
	if p == Local && c.local != nil {
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		rs, err := local(lctx, c.local)
		cancel()
		if err == nil {
			return rs
		}
	}
	rs := make([]smartlimit.Result, len(limits))
	for i, l := range limits {
		rs[i] = c.closedResult(l)
		if p == FailOpen {
			rs[i] = openResult(l, n)
		}
	}
	return rs
}

// Peek returns key's state under l from the first tier that implements
// smartlimit.Peeker and answers, consuming nothing. When none answers, the
// policy decides as for a request of cost 1.
func (c *Coordinator) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	if err := smartlimit.CheckRequest(key, l, 0); err != nil {
		return smartlimit.Result{}, err
	}
	if len(c.peekTiers) == 0 {
		return smartlimit.Result{}, fmt.Errorf("%w: Peek", ErrUnsupported)
	}
	var r smartlimit.Result
	err := c.walk(ctx, OpPeek, c.peekTiers, &operation{
		ask: func(ctx context.Context, t *tier) (bool, error) {
			var err error
			r, err = t.peeker.Peek(ctx, key, l)
			r.Tier = t.name
			return r.Allowed, err
		},
		fallback: func(ctx context.Context, undecided bool) (string, bool) {
			r = c.policyResult(ctx, c.policy(ctx, key, l, undecided), l, 0, func(ctx context.Context, local smartlimit.Limiter) (smartlimit.Result, error) {
				p, ok := local.(smartlimit.Peeker)
				if !ok {
					return smartlimit.Result{}, ErrUnsupported
				}
				return p.Peek(ctx, key, l)
			})
			return r.Tier, r.Allowed
		},
	})
	if err != nil {
		return smartlimit.Result{}, err
	}
	return r, nil
}

// Acquire takes a lease for key under l, a Concurrency limit, from the
// first tier that implements smartlimit.Leaser and answers. Releasing the
// lease goes to that same tier, under its deadline. When no tier answers,
// the policy decides: FailOpen hands out a lease whose Release does
// nothing, FailClosed none.
func (c *Coordinator) Acquire(ctx context.Context, key string, l smartlimit.Limit) (*smartlimit.Lease, smartlimit.Result, error) {
	if err := smartlimit.CheckRequest(key, l, 1); err != nil {
		return nil, smartlimit.Result{}, err
	}
	if l.Algorithm != smartlimit.Concurrency {
		return nil, smartlimit.Result{}, &smartlimit.InputError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "Acquire takes a Concurrency limit"}
	}
	if len(c.acquireTiers) == 0 {
		return nil, smartlimit.Result{}, fmt.Errorf("%w: Acquire", ErrUnsupported)
	}
	var (
		lease *smartlimit.Lease
		r     smartlimit.Result
	)
	err := c.walk(ctx, OpAcquire, c.acquireTiers, &operation{
		ask: func(ctx context.Context, t *tier) (bool, error) {
			var err error
			lease, r, err = t.leaser.Acquire(ctx, key, l)
			r.Tier = t.name
			if err == nil && lease != nil {
				lease = c.wrapLease(t, lease)
			}
			return r.Allowed, err
		},
		fallback: func(ctx context.Context, undecided bool) (string, bool) {
			p := c.policy(ctx, key, l, undecided)
			lease = nil
			r = c.policyResult(ctx, p, l, 1, func(ctx context.Context, local smartlimit.Limiter) (smartlimit.Result, error) {
				lsr, ok := local.(smartlimit.Leaser)
				if !ok {
					return smartlimit.Result{}, ErrUnsupported
				}
				ll, lr, err := lsr.Acquire(ctx, key, l)
				if err == nil {
					lease = ll
				}
				return lr, err
			})
			if p == FailOpen {
				lease = smartlimit.NewLease(key, l, smartlimit.NewLeaseID(), func(context.Context, *smartlimit.Lease) error { return nil })
			}
			return r.Tier, r.Allowed
		},
	})
	if err != nil {
		return nil, smartlimit.Result{}, err
	}
	return lease, r, nil
}

// wrapLease returns a lease whose Release goes to inner's tier under the
// tier's deadline and counts for its breaker.
func (c *Coordinator) wrapLease(t *tier, inner *smartlimit.Lease) *smartlimit.Lease {
	return smartlimit.NewLease(inner.Key, inner.Limit, inner.ID, func(ctx context.Context, _ *smartlimit.Lease) error {
		tk, _, ch := t.br.allow() // a release is owed even when the breaker is open
		c.changed(ctx, t, ch, nil)
		tctx, cancel := ctx, context.CancelFunc(func() {})
		if t.timeout > 0 {
			tctx, cancel = context.WithTimeout(ctx, t.timeout)
		}
		err := inner.Release(tctx)
		cancel()
		o := success
		switch {
		case err == nil:
		case badInput(err) || ctx.Err() != nil || perRequest(err):
			o = neutral
		default:
			o = failure
			t.note(c.clock, OpRelease, err, true, 0)
		}
		c.changed(ctx, t, t.br.record(tk, o), err)
		if c.hook.Attempt != nil {
			c.hook.Attempt(ctx, Attempt{Tier: t.name, Op: OpRelease, Err: err, Counted: o == failure})
		}
		if err != nil {
			return fmt.Errorf("failover: %s: release: %w", t.name, err)
		}
		return nil
	})
}

// Reset forgets key's state under l on every tier whose breaker lets a
// call through, and on Options.Local: each tier keeps its own state, and a
// reset that skipped one would resurface when traffic moves there. A tier
// that is open is skipped and keeps its state. The error joins the
// failures of the tiers tried; nil means every tier tried forgot the key.
func (c *Coordinator) Reset(ctx context.Context, key string, l smartlimit.Limit) error {
	if err := smartlimit.CheckRequest(key, l, 0); err != nil {
		return err
	}
	var errs []error
	for _, t := range c.tiers { // every tier: each keeps its own state
		var terr error
		_, err := c.try(ctx, t, OpReset, nil, func(ctx context.Context, t *tier) (bool, error) {
			terr = t.lim.Reset(ctx, key, l)
			return false, terr
		})
		if err != nil {
			return err
		}
		if terr != nil {
			errs = append(errs, fmt.Errorf("failover: %s: reset: %w", t.name, terr))
		}
	}
	if c.local != nil {
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		if err := c.local.Reset(lctx, key, l); err != nil {
			errs = append(errs, fmt.Errorf("failover: local: reset: %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
