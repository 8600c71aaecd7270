// Package httplimit is net/http middleware that rate-limits requests with
// any smartlimit limiter (the Redis Client, the memory tier, the failover
// coordinator). It keys requests by client address, user, API key, route
// or any combination, sets the IETF RateLimit and RateLimit-Policy headers
// and the legacy X-RateLimit-* ones, and answers over-limit requests with
// 429 and an RFC 9457 problem.
//
//	mw, err := httplimit.New(limiter, httplimit.Options{Limit: smartlimit.PerMinute(100)})
//	...
//	http.ListenAndServe(addr, mw.Handle(mux))                     // the whole site
//	mux.Handle("POST /login", loginLimit.Handle(loginHandler))    // one route
//
// Handle takes and returns an http.Handler, so the middleware plugs into
// http.ServeMux, chi (r.Use, r.With) and gorilla/mux (r.Use) as it is.
package httplimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/smartlimit/smartlimit"
)

// ErrUnavailable means the limiter failed to decide (its backend is down or
// slow). The middleware wraps such errors with it before it passes them to
// Options.ErrorHandler; a FailOpen Middleware lets the request pass instead.
var ErrUnavailable = errors.New("httplimit: rate limiter unavailable")

// ErrRequestDone means the request's context was done (the client went
// away, or a deadline passed) before the request was decided or served.
// Such a request never reaches the next handler, whatever Options.OnError
// says: otherwise a client could pass a FailOpen limit by disconnecting
// right after sending, since the limiter then fails with the request's own
// context.Canceled. The errors the middleware passes to
// Options.ErrorHandler for it match both ErrRequestDone and the context's
// error.
var ErrRequestDone = errors.New("httplimit: request ended before it was served")

// LimiterError classifies err, an error the limiter returned for a request
// whose context is ctx, for an ErrorHandler and an ErrorPolicy. Invalid
// input (smartlimit.InputError) comes back wrapped, still an InputError
// (and smartlimit.ErrInvalidLimit where it was). When ctx is done the
// error matches ErrRequestDone and ctx.Err(): the limiter most likely
// failed because of it, and the request is over either way. Any other error
// is a limiter failure and matches ErrUnavailable; that is the only kind an
// ErrorPolicy applies to. Other transports (grpclimit) use LimiterError to
// decide alike.
func LimiterError(ctx context.Context, err error) error {
	var in *smartlimit.InputError
	switch {
	case errors.As(err, &in):
		return fmt.Errorf("httplimit: limiter: %w", err)
	case ctx.Err() != nil:
		// %v, not %w: the limiter's error is a consequence, and must not
		// make the result match what it wraps (ErrUnavailable, say).
		return fmt.Errorf("%w: %w (limiter: %v)", ErrRequestDone, ctx.Err(), err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Limiter is the part of smartlimit.Limiter the middleware uses; every
// smartlimit tier implements it. When it also implements
// smartlimit.MultiLimiter the middleware can check several policies at
// once, and when it implements smartlimit.Leaser a Concurrency policy holds
// a lease for the duration of the request. (Without Leaser, a Concurrency
// policy's slots are taken with AllowN and come back only when they expire,
// a Period later.)
type Limiter interface {
	AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error)
}

// Policy is a named limit. The name identifies it in the RateLimit and
// RateLimit-Policy headers and in the violated-policies of a 429.
type Policy struct {
	// Name is printable ASCII; empty means DefaultPolicyName.
	Name  string
	Limit smartlimit.Limit
}

// DefaultPolicyName is the name of Options.Limit's policy and of a Policy
// without a name.
const DefaultPolicyName = "default"

// Mode says what the middleware does with a denied request.
type Mode uint8

const (
	// Block answers a denied request with DeniedHandler (429 by default).
	Block Mode = iota
	// AnnotateOnly only sets headers and the context Decision and always
	// calls the next handler at once (a leaky bucket's Delay is not waited
	// out): for shadow rollouts, to see whom a limit would hit before it
	// does.
	AnnotateOnly
)

// ErrorPolicy says what happens to a request when the limiter fails.
type ErrorPolicy uint8

const (
	// FailClosed answers with ErrorHandler (503 by default): an outage of
	// the limiter's backend is visible and nothing passes unlimited.
	FailClosed ErrorPolicy = iota
	// FailOpen lets the request pass unlimited. The error is logged
	// (Options.Logger) and recorded in the context Decision, never hidden.
	// A request whose context is done is not let through (see
	// ErrRequestDone).
	FailOpen
)

// Options configures a Middleware. The zero value of every field is its
// default; exactly one of Limit, Policies and PolicyFunc must be set.
type Options struct {
	// Limit is the limit of every request, reported as the policy
	// DefaultPolicyName.
	Limit smartlimit.Limit
	// Policies are several limits checked together, all or nothing (10/s
	// and 1000/day, say); the Limiter must implement
	// smartlimit.MultiLimiter when there is more than one.
	Policies []Policy
	// PolicyFunc chooses the policies per request, for example by plan or
	// route. A request for which it returns none passes unlimited.
	PolicyFunc func(r *http.Request) ([]Policy, error)

	// Key returns the key a request is limited under. The default is
	// RemoteIP. Keys pass through SafeKey. A request for which Key fails
	// goes to ErrorHandler (400 for ErrNoKey by default); use First to fall
	// back to another key instead.
	Key KeyFunc
	// Cost returns how many units a request takes, for example by body
	// size or endpoint weight. The default is 1 for every request.
	Cost func(r *http.Request) (int64, error)

	// Mode is Block (the default) or AnnotateOnly.
	Mode Mode
	// Exempt reports whether a request bypasses the limit entirely (health
	// checks, allow-listed networks; see IPKeyer.In). The default exempts
	// nothing.
	Exempt func(r *http.Request) bool
	// SkipMethods lists methods that bypass the limit, such as OPTIONS for
	// CORS preflight. The default skips none.
	SkipMethods []string

	// OmitDraftHeaders turns off RateLimit and RateLimit-Policy.
	OmitDraftHeaders bool
	// OmitLegacyHeaders turns off X-RateLimit-Limit, -Remaining and -Reset.
	OmitLegacyHeaders bool
	// ResetFormat is X-RateLimit-Reset's format: ResetSeconds (the default)
	// or ResetUnix.
	ResetFormat ResetFormat
	// Now is the clock for ResetUnix. The default is time.Now.
	Now func() time.Time

	// DeniedHandler answers denied requests in Block mode, after the
	// headers are set; FromContext gives it the Decision. The default
	// writes 429 with an application/problem+json body of type
	// quota-exceeded listing the violated policy.
	DeniedHandler http.Handler
	// OnError is what happens when the limiter fails: FailClosed (the
	// default) or FailOpen. Invalid input (smartlimit.InputError), errors
	// from Key, Cost and PolicyFunc, and requests whose context is done
	// (ErrRequestDone) never fail open.
	OnError ErrorPolicy
	// ErrorHandler answers requests that cannot be decided or served. The
	// default writes application/problem+json: 400 for errors matching
	// ErrNoKey, 503 with Retry-After: 1 for ErrUnavailable (the limiter
	// failed), and 500 for the rest: invalid input and errors from Key,
	// Cost or PolicyFunc. For ErrRequestDone it writes only a status, and
	// logs nothing: 499 (nginx's Client Closed Request, for access logs;
	// the client is gone and reads nothing) when the client went away, 503
	// when a deadline passed.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives errors: every failure that FailOpen lets through and
	// every one answered by the default ErrorHandler, at most once a second
	// per Middleware with a count of the ones in between, so an outage
	// cannot flood the log. The default is slog.Default().
	Logger *slog.Logger
}

// Middleware rate-limits the requests of the handlers it wraps. It is safe
// for simultaneous use by multiple goroutines; one Middleware may wrap many
// handlers, which then share its policies and keys.
type Middleware struct {
	lim      Limiter
	multi    smartlimit.MultiLimiter       // nil unless lim implements it
	each     smartlimit.MultiResultLimiter // nil unless lim implements it
	leaser   smartlimit.Leaser             // nil unless lim implements it
	policies []Policy                      // static policies; nil with policyFunc
	policyFn func(*http.Request) ([]Policy, error)
	policyHV string // RateLimit-Policy for the static policies
	limits   []smartlimit.Limit
	opts     Options
	log      errLog
}

// New returns a Middleware that limits requests on lim as opts says, or an
// error when opts is inconsistent or a policy is invalid.
func New(lim Limiter, opts Options) (*Middleware, error) {
	if lim == nil {
		return nil, errors.New("httplimit: New: nil Limiter")
	}
	m := &Middleware{lim: lim, opts: opts}
	m.multi, _ = lim.(smartlimit.MultiLimiter)
	m.each, _ = lim.(smartlimit.MultiResultLimiter)
	m.leaser, _ = lim.(smartlimit.Leaser)
	set := 0
	if opts.Limit != (smartlimit.Limit{}) {
		set++
		m.policies = []Policy{{Name: DefaultPolicyName, Limit: opts.Limit}}
	}
	if len(opts.Policies) > 0 {
		set++
		m.policies = slices.Clone(opts.Policies) // the caller may reuse its slice
	}
	if opts.PolicyFunc != nil {
		set++
		m.policyFn = opts.PolicyFunc
	}
	if set != 1 {
		return nil, errors.New("httplimit: New: set exactly one of Options.Limit, Options.Policies and Options.PolicyFunc")
	}
	if m.policies != nil {
		ps, err := m.check(m.policies)
		if err != nil {
			return nil, fmt.Errorf("httplimit: New: %w", err)
		}
		m.policies = ps
		m.limits = limitsOf(ps)
		m.policyHV = policyHeader(ps)
	}
	if opts.Key == nil {
		m.opts.Key = RemoteIP
	}
	if opts.Now == nil {
		m.opts.Now = time.Now
	}
	if opts.Logger == nil {
		m.opts.Logger = slog.Default()
	}
	if opts.DeniedHandler == nil {
		m.opts.DeniedHandler = http.HandlerFunc(deny)
	}
	if opts.ErrorHandler == nil {
		m.opts.ErrorHandler = m.defaultError
	}
	if opts.Mode > AnnotateOnly {
		return nil, fmt.Errorf("httplimit: New: unknown Mode %d", opts.Mode)
	}
	if opts.OnError > FailOpen {
		return nil, fmt.Errorf("httplimit: New: unknown OnError %d", opts.OnError)
	}
	if opts.ResetFormat > ResetUnix {
		return nil, fmt.Errorf("httplimit: New: unknown ResetFormat %d", opts.ResetFormat)
	}
	return m, nil
}

// check validates policies and fills in default names. It returns a copy
// when it changes anything, so the caller's slice is never written.
func (m *Middleware) check(ps []Policy) ([]Policy, error) {
	out := ps
	for i, p := range ps {
		if p.Name == "" {
			if &out[0] == &ps[0] {
				out = slices.Clone(ps)
			}
			out[i].Name = DefaultPolicyName
		}
		for j := 0; j < len(out[i].Name); j++ {
			if c := out[i].Name[j]; c < 0x20 || c > 0x7e {
				return nil, fmt.Errorf("policy name %q: want printable ASCII", out[i].Name)
			}
		}
		if err := p.Limit.Validate(); err != nil {
			return nil, fmt.Errorf("policy %q: %w", out[i].Name, err)
		}
		if len(ps) > 1 && p.Limit.Algorithm == smartlimit.Concurrency {
			return nil, fmt.Errorf("policy %q: a Concurrency limit must be the only policy", out[i].Name)
		}
	}
	if len(ps) > 1 && m.multi == nil {
		return nil, fmt.Errorf("%d policies need a Limiter that implements smartlimit.MultiLimiter", len(ps))
	}
	return out, nil
}

func limitsOf(ps []Policy) []smartlimit.Limit {
	ls := make([]smartlimit.Limit, len(ps))
	for i, p := range ps {
		ls[i] = p.Limit
	}
	return ls
}

func policyHeader(ps []Policy) string {
	var b []byte
	for i, p := range ps {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPolicyItem(b, p)
	}
	return string(b)
}

// Decision is what the middleware decided for a request. Handlers behind
// the middleware (and DeniedHandler) get it with FromContext.
type Decision struct {
	// Key is the key the request was checked under, after SafeKey.
	Key string
	// Cost is the number of units the request asked for.
	Cost int64
	// Policies are the policies checked. The slice is shared: do not
	// modify it.
	Policies []Policy
	// Policy is the binding one: the denying policy when denied, the one
	// with the least remaining when allowed (see smartlimit.Combine).
	Policy Policy
	// Violated are the policies that denied the request, nil when it was
	// allowed: every one that denied when the limiter implements
	// smartlimit.MultiResultLimiter, otherwise the binding one. The slice
	// may be shared: do not modify it.
	Violated []Policy
	// Result is the limiter's answer for the binding policy. After a
	// failure that FailOpen let through it is Allowed, with Tier
	// smartlimit.TierFailOpen.
	Result smartlimit.Result
	// Err is the limiter's error that FailOpen let through, or nil.
	Err error
}

type ctxKey struct{}

// decisionCtx is context.WithValue(parent, ctxKey{}, &d) in one allocation
// instead of two, with the Decision inside.
type decisionCtx struct {
	context.Context
	d Decision
}

func (c *decisionCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.d
	}
	return c.Context.Value(key)
}

// FromContext returns the Decision the middleware stored in ctx, and false
// when there is none: the request was exempt or skipped, or no middleware
// ran.
func FromContext(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(ctxKey{}).(*Decision)
	if !ok {
		return Decision{}, false
	}
	return *d, true
}

// Handle returns a handler that limits requests and passes the ones allowed
// to next. Wrap a whole mux for a site-wide limit, or one route's handler
// for that route alone.
func (m *Middleware) Handle(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, next)
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if slices.Contains(m.opts.SkipMethods, r.Method) || (m.opts.Exempt != nil && m.opts.Exempt(r)) {
		next.ServeHTTP(w, r)
		return
	}
	policies, limits, policyHV := m.policies, m.limits, m.policyHV
	if m.policyFn != nil {
		ps, err := m.policyFn(r)
		if err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: PolicyFunc: %w", err))
			return
		}
		if len(ps) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if ps, err = m.check(ps); err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: PolicyFunc: %w", asInput(err)))
			return
		}
		policies, limits, policyHV = ps, limitsOf(ps), policyHeader(ps)
	}
	key, err := m.opts.Key(r)
	if err != nil {
		m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: key: %w", err))
		return
	}
	ctx := r.Context()
	dc := &decisionCtx{Context: ctx, d: Decision{Key: SafeKey(key), Cost: 1, Policies: policies, Policy: policies[0]}}
	d := &dc.d
	if m.opts.Cost != nil {
		if d.Cost, err = m.opts.Cost(r); err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: cost: %w", err))
			return
		}
	}

	var lease *smartlimit.Lease
	var rs []smartlimit.Result
	switch {
	case len(limits) > 1 && m.each != nil:
		// Each limit's own result names the binding policy exactly, and
		// every policy that denied.
		if rs, err = m.each.AllowAllResults(ctx, d.Key, d.Cost, limits...); err == nil {
			d.Result, d.Policy = smartlimit.Combine(rs), policies[smartlimit.Binding(rs)]
		}
	case len(limits) > 1:
		d.Result, err = m.multi.AllowAll(ctx, d.Key, d.Cost, limits...)
		d.Policy = binding(policies, d.Result)
	case limits[0].Algorithm == smartlimit.Concurrency && m.leaser != nil && d.Cost > 0:
		lease, d.Result, err = m.leaser.Acquire(ctx, d.Key, limits[0])
	default:
		d.Result, err = m.lim.AllowN(ctx, d.Key, limits[0], d.Cost)
	}
	if err != nil {
		if werr := LimiterError(ctx, err); m.opts.OnError == FailClosed || !errors.Is(werr, ErrUnavailable) {
			m.opts.ErrorHandler(w, r, werr)
			return
		}
		m.log.log(m.opts.Logger, r, "httplimit: limiter failed; request passed unlimited (FailOpen)", err)
		d.Err = err
		d.Result = smartlimit.Result{Allowed: true, Tier: smartlimit.TierFailOpen}
		next.ServeHTTP(w, r.WithContext(dc))
		return
	}
	if lease != nil {
		defer func() {
			// Release even when the client went away: the slot must come back.
			if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
				m.log.log(m.opts.Logger, r, "httplimit: releasing concurrency lease", err)
			}
		}()
	}

	d.Violated = ViolatedPolicies(policies, d.Policy, d.Result, rs)
	denied := !d.Result.Allowed && m.opts.Mode == Block
	m.setHeaders(w.Header(), d, policyHV, denied)
	r = r.WithContext(dc)
	if denied {
		m.opts.DeniedHandler.ServeHTTP(w, r)
		return
	}
	if d.Result.Delay > 0 && m.opts.Mode == Block {
		// Leaky bucket: the request was admitted to be served after Delay.
		t := time.NewTimer(d.Result.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			m.opts.ErrorHandler(w, r, fmt.Errorf("%w: %w (while waiting out Delay)", ErrRequestDone, ctx.Err()))
			return
		}
	}
	next.ServeHTTP(w, r)
}

// ViolatedPolicies returns the policies that denied a request, as the
// middleware fills Decision.Violated, for transports that fill their own
// Decision (grpclimit): nil when r, the combined result for ps, allowed it;
// with rs, the results of smartlimit.MultiResultLimiter.AllowAllResults in
// the order of ps, every policy that denied by itself; without rs, binding,
// the binding policy. The result may share ps's backing array.
func ViolatedPolicies(ps []Policy, binding Policy, r smartlimit.Result, rs []smartlimit.Result) []Policy {
	if r.Allowed {
		return nil
	}
	var v []Policy
	for i, r := range rs {
		if !r.Allowed && r.RetryAfter != 0 { // a limit that passed alone has no retry
			v = append(v, ps[i])
		}
	}
	switch {
	case v != nil:
		return v
	case len(ps) == 1 && ps[0] == binding:
		return ps[:1:1] // shared, like Decision.Policies: no allocation per denial
	}
	return []Policy{binding}
}

// asInput makes a policy validation error match smartlimit.ErrInvalidLimit
// when it does not already.
func asInput(err error) error {
	if errors.Is(err, smartlimit.ErrInvalidLimit) {
		return err
	}
	return &smartlimit.InputError{Field: "limits", Value: "PolicyFunc", Reason: err.Error()}
}

// binding returns the policy whose limit gave r, for limiters without
// smartlimit.MultiResultLimiter. AllowAll reports only the
// binding Result, so it is found by capacity: when two policies have the
// same capacity the first is named.
func binding(ps []Policy, r smartlimit.Result) Policy {
	for _, p := range ps {
		if p.Limit.Capacity() == r.Limit {
			return p
		}
	}
	return ps[0]
}

// Canonical forms of the header names, so that setting them costs no
// canonicalization (http.Header.Set allocates for "RateLimit").
var (
	canonRateLimitPolicy = http.CanonicalHeaderKey(HeaderRateLimitPolicy)
	canonRateLimit       = http.CanonicalHeaderKey(HeaderRateLimit)
	canonLimit           = http.CanonicalHeaderKey(HeaderXRateLimitLimit)
	canonRemaining       = http.CanonicalHeaderKey(HeaderXRateLimitRemaining)
	canonReset           = http.CanonicalHeaderKey(HeaderXRateLimitReset)
)

// setHeaders sets the rate limit headers for d, and Retry-After when
// retry. All values share one string and one slice backing array: two
// allocations, whatever the count.
func (m *Middleware) setHeaders(h http.Header, d *Decision, policyHV string, retry bool) {
	reset, hasReset := quotaSeconds(d.Policy.Limit, d.Result)
	retry = retry && hasReset // a request that can never pass gets no time to retry at
	if m.opts.OmitDraftHeaders && m.opts.OmitLegacyHeaders && !retry {
		return
	}
	var buf [160]byte
	var ends [5]int // ends of the RateLimit, Limit, Remaining, Reset and Retry-After values in buf
	b := buf[:0]
	if !m.opts.OmitDraftHeaders {
		b = appendStateItem(b, d.Policy, d.Result)
	}
	ends[0] = len(b)
	if !m.opts.OmitLegacyHeaders {
		b = strconv.AppendInt(b, d.Result.Limit, 10)
		ends[1] = len(b)
		b = strconv.AppendInt(b, max(d.Result.Remaining, 0), 10)
		ends[2] = len(b)
		if hasReset {
			r := reset
			if m.opts.ResetFormat == ResetUnix {
				// Round up, as for delta seconds: never announce a reset
				// before the limiter's.
				r = m.opts.Now().Add(time.Duration(reset)*time.Second + time.Second - 1).Unix()
			}
			b = strconv.AppendInt(b, r, 10)
		}
	} else {
		ends[1], ends[2] = len(b), len(b)
	}
	ends[3] = len(b)
	if retry {
		// Retry-After is RateLimit's t: never earlier than announced.
		b = strconv.AppendInt(b, reset, 10)
	}
	ends[4] = len(b)
	all := string(b)
	vals := make([]string, 6)
	set := func(i int, name, v string) { vals[i] = v; h[name] = vals[i : i+1 : i+1] }
	if !m.opts.OmitDraftHeaders {
		set(0, canonRateLimitPolicy, policyHV)
		set(1, canonRateLimit, all[:ends[0]])
	}
	if !m.opts.OmitLegacyHeaders {
		set(2, canonLimit, all[ends[0]:ends[1]])
		set(3, canonRemaining, all[ends[1]:ends[2]])
		if hasReset {
			set(4, canonReset, all[ends[2]:ends[3]])
		}
	}
	if retry {
		set(5, HeaderRetryAfter, all[ends[3]:ends[4]])
	}
}

// deny is the default DeniedHandler.
func deny(w http.ResponseWriter, r *http.Request) {
	d, ok := FromContext(r.Context())
	if !ok { // only when called outside the middleware
		WriteProblem(w, Problem{Type: ProblemQuotaExceeded, Title: "Too Many Requests", Status: http.StatusTooManyRequests})
		return
	}
	var buf [256]byte
	violated := d.Violated
	if violated == nil { // a Decision made outside the middleware
		violated = []Policy{d.Policy}
	}
	writeProblem(w, http.StatusTooManyRequests, appendDenied(buf[:0], violated, d.Result.RetryAfter == smartlimit.Never))
}

// statusClientClosedRequest is nginx's 499: a status for access logs and
// metrics of a request whose client left, which no client ever reads.
const statusClientClosedRequest = 499

// defaultError is the default ErrorHandler.
func (m *Middleware) defaultError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrRequestDone):
		// Neither the client's fault nor the limiter's: no log line, and no
		// body for a client that is not there.
		if errors.Is(err, context.DeadlineExceeded) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(statusClientClosedRequest)
	case errors.Is(err, ErrNoKey):
		// The client's doing: not worth a log line per request.
		WriteProblem(w, Problem{Type: ProblemBlank, Title: "Bad Request", Status: http.StatusBadRequest, Detail: err.Error()})
	case errors.Is(err, ErrUnavailable):
		m.log.log(m.opts.Logger, r, "httplimit: request refused: cannot check rate limit (FailClosed)", err)
		// Details stay in the log: they may name internal hosts.
		w.Header().Set(HeaderRetryAfter, "1")
		WriteProblem(w, Problem{Type: ProblemBlank, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "the rate limiter is unavailable"})
	default: // invalid input or a failing Key, Cost or PolicyFunc: a bug or an internal failure
		m.log.log(m.opts.Logger, r, "httplimit: request refused: cannot compute rate limit", err)
		WriteProblem(w, Problem{Type: ProblemBlank, Title: "Internal Server Error", Status: http.StatusInternalServerError})
	}
}

// errLog logs at most one error a second and counts the ones it drops.
type errLog struct {
	last    atomic.Int64 // UnixNano of the last line written
	dropped atomic.Int64
}

func (e *errLog) log(l *slog.Logger, r *http.Request, msg string, err error) {
	now := time.Now().UnixNano()
	last := e.last.Load()
	if now-last < int64(time.Second) || !e.last.CompareAndSwap(last, now) {
		e.dropped.Add(1)
		return
	}
	l.LogAttrs(r.Context(), slog.LevelError, msg,
		slog.String("error", err.Error()),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int64("suppressed", e.dropped.Swap(0)))
}
