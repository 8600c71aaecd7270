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

	peekers, multis, eachs, leasers int // how many tiers implement each interface
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
	peeker  smartlimit.Peeker
	multi   smartlimit.MultiLimiter
	each    smartlimit.MultiResultLimiter
	leaser  smartlimit.Leaser
	timeout time.Duration
	br      breaker

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
		ti.multi, _ = t.Limiter.(smartlimit.MultiLimiter)
		ti.each, _ = t.Limiter.(smartlimit.MultiResultLimiter)
		ti.leaser, _ = t.Limiter.(smartlimit.Leaser)
		c.peekers += b2i(ti.peeker != nil)
		c.multis += b2i(ti.multi != nil)
		c.eachs += b2i(ti.each != nil)
		c.leasers += b2i(ti.leaser != nil)
		ti.br.opts, ti.br.clock, ti.br.rand = &c.breaker, c.clock, c.jitterRand
		c.tiers = append(c.tiers, ti)
	}
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

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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

// try calls t, if its breaker lets it, under t's deadline, and records the
// outcome. answered reports whether t answered; err is what the caller
// must get at once (bad input, or its own context ended) and stops the
// walk down the tiers. A per-request error neither answers nor stops the
// walk, and does not count for t's breaker; it sets *undecided, which makes
// the policy stricter (see policy).
func (c *Coordinator) try(ctx context.Context, t *tier, op Op, undecided *bool, call func(context.Context) (allowed bool, err error)) (answered bool, err error) {
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
	allowed, err := call(tctx)
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
		*undecided = true
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

// fallback reports the policy's answer to the hook.
func (c *Coordinator) fallback(ctx context.Context, op Op, tierName string, allowed bool, err error) {
	if c.hook.Attempt != nil {
		c.hook.Attempt(ctx, Attempt{Tier: tierName, Op: op, Allowed: allowed, Err: err, Fallback: true})
	}
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
	var undecided bool // a tier could not decide this request (see policy)
	for _, t := range c.tiers {
		ok, err := c.try(ctx, t, OpAllow, &undecided, func(ctx context.Context) (bool, error) {
			var err error
			r, err = t.lim.AllowN(ctx, key, l, n)
			return r.Allowed, err
		})
		if err != nil {
			return smartlimit.Result{}, err
		}
		if ok {
			r.Tier = t.name
			return r, nil
		}
	}
	switch c.policy(ctx, key, l, undecided) {
	case FailOpen:
		r = openResult(l, n)
	case Local:
		if c.local != nil {
			lctx, cancel := context.WithTimeout(ctx, c.timeout)
			lr, err := c.local.AllowN(lctx, key, l, n)
			cancel()
			if err == nil {
				c.fallback(ctx, OpAllow, lr.Tier, lr.Allowed, nil)
				return lr, nil
			}
		}
		r = c.closedResult(l)
	default:
		r = c.closedResult(l)
	}
	c.fallback(ctx, OpAllow, r.Tier, r.Allowed, nil)
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
	return c.allowMany(ctx, reqs, c.tiers, false)
}

// allowMany is AllowMany on tiers, after validation. undecided reports
// whether an earlier tier could not decide these requests (see policy).
func (c *Coordinator) allowMany(ctx context.Context, reqs []smartlimit.Request, tiers []*tier, undecided bool) ([]smartlimit.Result, error) {
	var rs []smartlimit.Result
	for ti, t := range tiers {
		var terr error
		ok, err := c.try(ctx, t, OpAllowMany, &undecided, func(ctx context.Context) (bool, error) {
			rs, terr = t.lim.AllowMany(ctx, reqs)
			if len(rs) != len(reqs) && (terr == nil || perRequest(terr)) {
				terr = fmt.Errorf("%w: %d results for %d requests", smartlimit.ErrUnexpectedReply, len(rs), len(reqs))
			}
			return false, terr
		})
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range rs {
				rs[i].Tier = t.name
			}
			return rs, nil
		}
		var be *smartlimit.BatchError
		if terr != nil && perRequest(terr) && errors.As(terr, &be) && len(be.Errs) == len(reqs) {
			// The tier decided the other items, and they count there:
			// keep those decisions, and ask the next tiers (or the
			// policy) about the items it could not decide.
			var idx []int
			var sub []smartlimit.Request
			for i, e := range be.Errs {
				if e != nil {
					idx, sub = append(idx, i), append(sub, reqs[i])
				} else {
					rs[i].Tier = t.name
				}
			}
			if len(sub) > 0 {
				srs, err := c.allowMany(ctx, sub, tiers[ti+1:], true)
				if err != nil {
					return nil, err
				}
				for j, i := range idx {
					rs[i] = srs[j]
				}
			}
			return rs, nil
		}
	}

	rs = make([]smartlimit.Result, len(reqs))
	var localIdx []int
	var localReqs []smartlimit.Request
	for i, r := range reqs {
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
	tierName := smartlimit.TierFailClosed
	if len(rs) > 0 {
		tierName = rs[0].Tier
	}
	c.fallback(ctx, OpAllowMany, tierName, false, nil)
	return rs, nil
}

// AllowAll consumes n units for key under every limit, or under none, on
// the first tier that implements smartlimit.MultiLimiter and answers. When
// none answers, the strictest of the limits' policies decides for all of
// them (FailClosed, then Local, then FailOpen), and the Result is the
// binding one, as smartlimit.Combine describes.
func (c *Coordinator) AllowAll(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) (smartlimit.Result, error) {
	rs, err := c.allowAll(ctx, key, n, limits, false)
	if err != nil {
		return smartlimit.Result{}, err
	}
	return smartlimit.Combine(rs), nil
}

// AllowAllResults is AllowAll with each limit's own Result, in the order of
// limits (see smartlimit.MultiResultLimiter). It asks only the tiers that
// implement smartlimit.MultiResultLimiter; when none answers, the policy
// decides as for AllowAll, each limit reported on its own.
func (c *Coordinator) AllowAllResults(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) ([]smartlimit.Result, error) {
	return c.allowAll(ctx, key, n, limits, true)
}

// allowAll serves AllowAll and, with each, AllowAllResults. Without each,
// a tier answers with one combined Result, returned as the only element.
func (c *Coordinator) allowAll(ctx context.Context, key string, n int64, limits []smartlimit.Limit, each bool) ([]smartlimit.Result, error) {
	if len(limits) == 0 {
		return nil, &smartlimit.InputError{Field: "limits", Value: "", Reason: "AllowAll needs at least one limit"}
	}
	for _, l := range limits {
		if err := smartlimit.CheckRequest(key, l, n); err != nil {
			return nil, err
		}
		if l.Algorithm == smartlimit.Concurrency {
			return nil, &smartlimit.InputError{Field: "algorithm", Value: l.String(), Reason: "AllowAll does not take Concurrency limits; use Acquire"}
		}
	}
	switch {
	case each && c.eachs == 0:
		return nil, fmt.Errorf("%w: AllowAllResults", ErrUnsupported)
	case !each && c.multis == 0:
		return nil, fmt.Errorf("%w: AllowAll", ErrUnsupported)
	}
	var rs []smartlimit.Result
	var undecided bool // a tier could not decide this request (see policy)
	for _, t := range c.tiers {
		if each && t.each == nil || !each && t.multi == nil {
			continue
		}
		ok, err := c.try(ctx, t, OpAllowAll, &undecided, func(ctx context.Context) (bool, error) {
			if each {
				var err error
				rs, err = t.each.AllowAllResults(ctx, key, n, limits...)
				return err == nil && smartlimit.Combine(rs).Allowed, err
			}
			r, err := t.multi.AllowAll(ctx, key, n, limits...)
			rs = []smartlimit.Result{r}
			return r.Allowed, err
		})
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range rs {
				rs[i].Tier = t.name
			}
			return rs, nil
		}
	}
	p := FailOpen
	for _, l := range limits {
		if q := c.policy(ctx, key, l, undecided); q.strictness() > p.strictness() {
			p = q
		}
	}
	rs = make([]smartlimit.Result, len(limits))
	for i, l := range limits {
		rs[i] = c.closedResult(l)
		if p == FailOpen {
			rs[i] = openResult(l, n)
		}
	}
	if p == Local {
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		if m, ok := c.local.(smartlimit.MultiResultLimiter); ok && each {
			if lrs, err := m.AllowAllResults(lctx, key, n, limits...); err == nil {
				rs = lrs
			}
		} else if m, ok := c.local.(smartlimit.MultiLimiter); ok && !each {
			if lr, err := m.AllowAll(lctx, key, n, limits...); err == nil {
				rs = []smartlimit.Result{lr}
			}
		}
		cancel()
	}
	r := smartlimit.Combine(rs)
	c.fallback(ctx, OpAllowAll, r.Tier, r.Allowed, nil)
	return rs, nil
}

// Peek returns key's state under l from the first tier that implements
// smartlimit.Peeker and answers, consuming nothing. When none answers, the
// policy decides as for a request of cost 1.
func (c *Coordinator) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	if err := smartlimit.CheckRequest(key, l, 0); err != nil {
		return smartlimit.Result{}, err
	}
	if c.peekers == 0 {
		return smartlimit.Result{}, fmt.Errorf("%w: Peek", ErrUnsupported)
	}
	var r smartlimit.Result
	var undecided bool // a tier could not decide this request (see policy)
	for _, t := range c.tiers {
		if t.peeker == nil {
			continue
		}
		ok, err := c.try(ctx, t, OpPeek, &undecided, func(ctx context.Context) (bool, error) {
			var err error
			r, err = t.peeker.Peek(ctx, key, l)
			return r.Allowed, err
		})
		if err != nil {
			return smartlimit.Result{}, err
		}
		if ok {
			r.Tier = t.name
			return r, nil
		}
	}
	r = c.closedResult(l)
	switch c.policy(ctx, key, l, undecided) {
	case FailOpen:
		r = openResult(l, 0)
	case Local:
		if p, ok := c.local.(smartlimit.Peeker); ok {
			lctx, cancel := context.WithTimeout(ctx, c.timeout)
			lr, err := p.Peek(lctx, key, l)
			cancel()
			if err == nil {
				r = lr
			}
		}
	}
	c.fallback(ctx, OpPeek, r.Tier, r.Allowed, nil)
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
	if c.leasers == 0 {
		return nil, smartlimit.Result{}, fmt.Errorf("%w: Acquire", ErrUnsupported)
	}
	var (
		lease     *smartlimit.Lease
		r         smartlimit.Result
		undecided bool // a tier could not decide this request (see policy)
	)
	for _, t := range c.tiers {
		if t.leaser == nil {
			continue
		}
		ok, err := c.try(ctx, t, OpAcquire, &undecided, func(ctx context.Context) (bool, error) {
			var err error
			lease, r, err = t.leaser.Acquire(ctx, key, l)
			return r.Allowed, err
		})
		if err != nil {
			return nil, smartlimit.Result{}, err
		}
		if ok {
			r.Tier = t.name
			if lease == nil {
				return nil, r, nil
			}
			return c.wrapLease(t, lease), r, nil
		}
	}
	r = c.closedResult(l)
	lease = nil
	switch c.policy(ctx, key, l, undecided) {
	case FailOpen:
		r = openResult(l, 1)
		lease = smartlimit.NewLease(key, l, smartlimit.NewLeaseID(), func(context.Context, *smartlimit.Lease) error { return nil })
	case Local:
		if lsr, ok := c.local.(smartlimit.Leaser); ok {
			lctx, cancel := context.WithTimeout(ctx, c.timeout)
			ll, lr, err := lsr.Acquire(lctx, key, l)
			cancel()
			if err == nil {
				lease, r = ll, lr
			}
		}
	}
	c.fallback(ctx, OpAcquire, r.Tier, r.Allowed, nil)
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
	var undecided bool // unused: a reset asks every tier
	for _, t := range c.tiers {
		var terr error
		_, err := c.try(ctx, t, OpReset, &undecided, func(ctx context.Context) (bool, error) {
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
