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
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/decision"
)

// The decision path, and the types it speaks in, live in package decision,
// which grpclimit and the other transports share; the names below keep
// httplimit's API.

// ErrUnavailable means the limiter failed to decide (its backend is down or
// slow). The middleware wraps such errors with it before it passes them to
// Options.ErrorHandler; a FailOpen Middleware lets the request pass instead.
// It is decision.ErrUnavailable.
var ErrUnavailable = decision.ErrUnavailable

// ErrRequestDone means the request's context was done (the client went
// away, or a deadline passed) before the request was decided or served.
// Such a request never reaches the next handler, whatever Options.OnError
// says: otherwise a client could pass a FailOpen limit by disconnecting
// right after sending, since the limiter then fails with the request's own
// context.Canceled. The errors the middleware passes to
// Options.ErrorHandler for it match both ErrRequestDone and the context's
// error. It is decision.ErrRequestDone.
var ErrRequestDone = decision.ErrRequestDone

// LimiterError classifies err, an error the limiter returned for a request
// whose context is ctx, for an ErrorHandler and an ErrorPolicy; it is
// decision.LimiterError, which documents the classes.
func LimiterError(ctx context.Context, err error) error { return decision.LimiterError(ctx, err) }

// Limiter is the part of smartlimit.Limiter the middleware uses; see
// decision.Limiter, where it is defined.
type Limiter = decision.Limiter

// Policy is a named limit. The name identifies it in the RateLimit and
// RateLimit-Policy headers and in the violated-policies of a 429. It is
// defined in package decision.
type Policy = decision.Policy

// DefaultPolicyName is the name of Options.Limit's policy and of a Policy
// without a name.
const DefaultPolicyName = decision.DefaultPolicyName

// Mode says what the middleware does with a denied request; it is defined
// in package decision.
type Mode = decision.Mode

const (
	// Block answers a denied request with DeniedHandler (429 by default).
	Block = decision.Block
	// AnnotateOnly only sets headers and the context Decision and always
	// calls the next handler at once (a leaky bucket's Delay is not waited
	// out): for shadow rollouts, to see whom a limit would hit before it
	// does.
	AnnotateOnly = decision.AnnotateOnly
)

// ErrorPolicy says what happens to a request when the limiter fails; it is
// defined in package decision.
type ErrorPolicy = decision.ErrorPolicy

const (
	// FailClosed answers with ErrorHandler (503 by default): an outage of
	// the limiter's backend is visible and nothing passes unlimited.
	FailClosed = decision.FailClosed
	// FailOpen lets the request pass unlimited. The error is logged
	// (Options.Logger) and recorded in the context Decision, never hidden.
	// A request whose context is done is not let through (see
	// ErrRequestDone).
	FailOpen = decision.FailOpen
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
	dec      *decision.Decider
	set      decision.Set // the static policies; empty with policyFn
	policyFn func(*http.Request) ([]Policy, error)
	opts     Options
	log      decision.ErrorLog
}

// New returns a Middleware that limits requests on lim as opts says, or an
// error when opts is inconsistent or a policy is invalid.
func New(lim Limiter, opts Options) (*Middleware, error) {
	if lim == nil {
		return nil, errors.New("httplimit: New: nil Limiter")
	}
	dec, err := decision.NewDecider(lim, opts.Mode, opts.OnError)
	if err != nil {
		return nil, fmt.Errorf("httplimit: New: %w", err)
	}
	m := &Middleware{dec: dec, opts: opts}
	var policies []Policy
	set := 0
	if opts.Limit != (smartlimit.Limit{}) {
		set++
		policies = []Policy{{Name: DefaultPolicyName, Limit: opts.Limit}}
	}
	if len(opts.Policies) > 0 {
		set++
		policies = slices.Clone(opts.Policies) // the caller may reuse its slice
	}
	if opts.PolicyFunc != nil {
		set++
		m.policyFn = opts.PolicyFunc
	}
	if set != 1 {
		return nil, errors.New("httplimit: New: set exactly one of Options.Limit, Options.Policies and Options.PolicyFunc")
	}
	if policies != nil {
		if m.set, err = dec.Policies(policies); err != nil {
			return nil, fmt.Errorf("httplimit: New: %w", err)
		}
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
	if opts.ResetFormat > ResetUnix {
		return nil, fmt.Errorf("httplimit: New: unknown ResetFormat %d", opts.ResetFormat)
	}
	return m, nil
}

// Decision is what the middleware decided for a request. Handlers behind
// the middleware (and DeniedHandler) get it with FromContext. It is defined
// in package decision, which documents its fields.
type Decision = decision.Decision

// FromContext returns the Decision the middleware stored in ctx, and false
// when there is none: the request was exempt or skipped, or no middleware
// ran. It is decision.FromContext.
func FromContext(ctx context.Context) (Decision, bool) { return decision.FromContext(ctx) }

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
	s := m.set
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
		if s, err = m.dec.Policies(ps); err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: PolicyFunc: %w", asInput(err)))
			return
		}
	}
	key, err := m.opts.Key(r)
	if err != nil {
		m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: key: %w", err))
		return
	}
	ctx := r.Context()
	dc := &decision.Context{Context: ctx, Decision: Decision{Key: SafeKey(key), Cost: 1}}
	d := &dc.Decision
	if m.opts.Cost != nil {
		if d.Cost, err = m.opts.Cost(r); err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("httplimit: cost: %w", err))
			return
		}
	}

	lease, err := m.dec.Decide(ctx, d, s)
	if err != nil {
		m.opts.ErrorHandler(w, r, err)
		return
	}
	if d.Err != nil {
		m.logErr(r, "httplimit: limiter failed; request passed unlimited (FailOpen)", d.Err)
		next.ServeHTTP(w, r.WithContext(dc))
		return
	}
	if lease != nil {
		defer func() {
			// Release even when the client went away: the slot must come back.
			if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
				m.logErr(r, "httplimit: releasing concurrency lease", err)
			}
		}()
	}

	denied := m.dec.Denies(d)
	m.setHeaders(w.Header(), d, s.Header, denied)
	r = r.WithContext(dc)
	if denied {
		m.opts.DeniedHandler.ServeHTTP(w, r)
		return
	}
	if err := m.dec.Wait(ctx, d); err != nil {
		m.opts.ErrorHandler(w, r, err)
		return
	}
	next.ServeHTTP(w, r)
}

// ViolatedPolicies returns the policies that denied a request, as the
// middleware fills Decision.Violated, for transports that fill their own
// Decision; it is decision.ViolatedPolicies, which documents it.
func ViolatedPolicies(ps []Policy, binding Policy, r smartlimit.Result, rs []smartlimit.Result) []Policy {
	return decision.ViolatedPolicies(ps, binding, r, rs)
}

// asInput makes a policy validation error match smartlimit.ErrInvalidLimit
// when it does not already.
func asInput(err error) error {
	if errors.Is(err, smartlimit.ErrInvalidLimit) {
		return err
	}
	return &smartlimit.InputError{Field: "limits", Value: "PolicyFunc", Reason: err.Error()}
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
	reset, hasReset := decision.DeltaSeconds(d.Policy.Limit, d.Result)
	retry = retry && hasReset // a request that can never pass gets no time to retry at
	if m.opts.OmitDraftHeaders && m.opts.OmitLegacyHeaders && !retry {
		return
	}
	var buf [160]byte
	var ends [5]int // ends of the RateLimit, Limit, Remaining, Reset and Retry-After values in buf
	b := buf[:0]
	if !m.opts.OmitDraftHeaders {
		b = decision.AppendRateLimit(b, d.Policy, d.Result)
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
		m.logErr(r, "httplimit: request refused: cannot check rate limit (FailClosed)", err)
		// Details stay in the log: they may name internal hosts.
		w.Header().Set(HeaderRetryAfter, "1")
		WriteProblem(w, Problem{Type: ProblemBlank, Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "the rate limiter is unavailable"})
	default: // invalid input or a failing Key, Cost or PolicyFunc: a bug or an internal failure
		m.logErr(r, "httplimit: request refused: cannot compute rate limit", err)
		WriteProblem(w, Problem{Type: ProblemBlank, Title: "Internal Server Error", Status: http.StatusInternalServerError})
	}
}

// logErr logs err for r with the Middleware's rate-limited log.
func (m *Middleware) logErr(r *http.Request, msg string, err error) {
	m.log.Log(r.Context(), m.opts.Logger, msg, err,
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path))
}
