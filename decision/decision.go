// Package decision is the transport-neutral core of smartlimit's
// middleware: it turns a request's key, cost and policies into a Decision
// on any smartlimit limiter (allow, deny, or annotate only), classifies
// limiter failures under an ErrorPolicy, formats the IETF RateLimit and
// RateLimit-Policy field values, makes keys safe for Redis, finds a client
// address behind trusted proxies, and rate-limits error logs. The
// transports (httplimit, grpclimit) are thin translations over it, and know
// it, never each other; it knows no transport.
//
// A transport builds a Decider and a policy Set once, and per request makes
// a Context, decides, and translates the Decision (see ExampleDecider):
//
//	dec, err := decision.NewDecider(limiter, decision.Block, decision.FailClosed)
//	set, err := dec.Policies([]decision.Policy{{Name: "api", Limit: smartlimit.PerSecond(10)}})
//	ctx := &decision.Context{Context: parent, Decision: decision.Decision{Key: decision.SafeKey(key), Cost: 1}}
//	lease, err := dec.Decide(ctx, &ctx.Decision, set)
package decision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smartlimit/smartlimit"
)

// ErrUnavailable means the limiter failed to decide (its backend is down or
// slow). LimiterError wraps such errors with it; a FailOpen Decider lets
// the request pass instead.
var ErrUnavailable = errors.New("decision: rate limiter unavailable")

// ErrRequestDone means the request's context was done (the client went
// away, or a deadline passed) before the request was decided or served.
// Such a request never reaches the handler, whatever the ErrorPolicy says:
// otherwise a client could pass a FailOpen limit by disconnecting right
// after sending, since the limiter then fails with the request's own
// context.Canceled. The errors that say so match both ErrRequestDone and
// the context's error.
var ErrRequestDone = errors.New("decision: request ended before it was served")

// LimiterError classifies err, an error the limiter returned for a request
// whose context is ctx. Invalid input (smartlimit.InputError) comes back
// wrapped, still an InputError (and smartlimit.ErrInvalidLimit where it
// was). When ctx is done the error matches ErrRequestDone and ctx.Err():
// the limiter most likely failed because of it, and the request is over
// either way. Any other error is a limiter failure and matches
// ErrUnavailable; that is the only kind an ErrorPolicy applies to.
func LimiterError(ctx context.Context, err error) error {
	var in *smartlimit.InputError
	switch {
	case errors.As(err, &in):
		return fmt.Errorf("decision: limiter: %w", err)
	case ctx.Err() != nil:
		// %v, not %w: the limiter's error is a consequence, and must not
		// make the result match what it wraps (ErrUnavailable, say).
		return fmt.Errorf("%w: %w (limiter: %v)", ErrRequestDone, ctx.Err(), err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Limiter is the part of smartlimit.Limiter a Decider uses; every
// smartlimit tier implements it. When it also implements
// smartlimit.MultiLimiter a Decider can check several policies at once,
// and when it implements smartlimit.Leaser a Concurrency policy holds a
// lease for the duration of the request. (Without Leaser, a Concurrency
// policy's slots are taken with AllowN and come back only when they expire,
// a Period later.)
type Limiter interface {
	AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error)
}

// Policy is a named limit. The name identifies it in the RateLimit and
// RateLimit-Policy fields and in the violated policies of a denial.
type Policy struct {
	// Name is printable ASCII; empty means DefaultPolicyName.
	Name  string
	Limit smartlimit.Limit
}

// DefaultPolicyName is the name of a transport's single Limit's policy and
// of a Policy without a name.
const DefaultPolicyName = "default"

// Mode says what a Decider does with a denied request.
type Mode uint8

const (
	// Block denies a denied request (429 over HTTP, ResourceExhausted
	// over gRPC), and waits out a leaky bucket's Delay before an allowed
	// one is served.
	Block Mode = iota
	// AnnotateOnly only annotates (headers or metadata, and the context
	// Decision) and always serves the request at once (a leaky bucket's
	// Delay is not waited out): for shadow rollouts, to see whom a limit
	// would hit before it does.
	AnnotateOnly
)

// ErrorPolicy says what happens to a request when the limiter fails.
type ErrorPolicy uint8

const (
	// FailClosed refuses the request (503 over HTTP, Unavailable over
	// gRPC): an outage of the limiter's backend is visible and nothing
	// passes unlimited.
	FailClosed ErrorPolicy = iota
	// FailOpen lets the request pass unlimited. The error is recorded in
	// the Decision (Err), for the transport to log, never hidden. A
	// request whose context is done is not let through (see
	// ErrRequestDone).
	FailOpen
)

// Decision is what was decided for a request. Handlers behind a transport's
// middleware get it with FromContext.
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

// Context is a context.Context that carries a Decision: what
// context.WithValue(parent, key, &d) gives, in one allocation instead of
// two. Make one per request, fill in Decision.Key and Cost, and hand
// &c.Decision to Decider.Decide; FromContext finds it.
type Context struct {
	context.Context
	Decision Decision
}

type ctxKey struct{}

// Value returns the Decision for FromContext, and the parent's values for
// every other key.
func (c *Context) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.Decision
	}
	return c.Context.Value(key)
}

// FromContext returns the Decision stored in ctx (by a Context), and false
// when there is none: the request was exempt or skipped, or no middleware
// ran.
func FromContext(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(ctxKey{}).(*Decision)
	if !ok {
		return Decision{}, false
	}
	return *d, true
}

// Decider decides requests on a Limiter: the decision path every transport
// shares, from a request's key, cost and policies to allow, deny or
// annotate. It is safe for simultaneous use by multiple goroutines.
type Decider struct {
	lim     Limiter
	multi   smartlimit.MultiLimiter       // nil unless lim implements it
	each    smartlimit.MultiResultLimiter // nil unless lim implements it
	leaser  smartlimit.Leaser             // nil unless lim implements it
	mode    Mode
	onError ErrorPolicy
}

// NewDecider returns a Decider on lim, or an error when lim is nil or mode
// or onError is unknown.
func NewDecider(lim Limiter, mode Mode, onError ErrorPolicy) (*Decider, error) {
	if lim == nil {
		return nil, errors.New("nil Limiter")
	}
	if mode > AnnotateOnly {
		return nil, fmt.Errorf("unknown Mode %d", mode)
	}
	if onError > FailOpen {
		return nil, fmt.Errorf("unknown OnError %d", onError)
	}
	dc := &Decider{lim: lim, mode: mode, onError: onError}
	dc.multi, _ = lim.(smartlimit.MultiLimiter)
	dc.each, _ = lim.(smartlimit.MultiResultLimiter)
	dc.leaser, _ = lim.(smartlimit.Leaser)
	return dc, nil
}

// Mode returns the Decider's Mode.
func (dc *Decider) Mode() Mode { return dc.mode }

// Set is a list of policies checked together, validated by
// Decider.Policies, with what a decision on them needs precomputed.
type Set struct {
	// Policies are the policies, every one named. The slice may be the
	// caller's (when no name was missing): do not modify it.
	Policies []Policy
	// Limits are the policies' limits, in the same order.
	Limits []smartlimit.Limit
	// Header is the RateLimit-Policy field value for Policies (see
	// FormatPolicies).
	Header string
}

// Policies validates ps and returns them as a Set: each name printable
// ASCII (an empty one becomes DefaultPolicyName), each limit valid, a
// Concurrency limit only alone, and more than one policy only on a limiter
// that implements smartlimit.MultiLimiter. It copies ps rather than write
// it when it fills in a name.
func (dc *Decider) Policies(ps []Policy) (Set, error) {
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
				return Set{}, fmt.Errorf("policy name %q: want printable ASCII", out[i].Name)
			}
		}
		if err := p.Limit.Validate(); err != nil {
			return Set{}, fmt.Errorf("policy %q: %w", out[i].Name, err)
		}
		if len(ps) > 1 && p.Limit.Algorithm == smartlimit.Concurrency {
			return Set{}, fmt.Errorf("policy %q: a Concurrency limit must be the only policy", out[i].Name)
		}
	}
	if len(ps) > 1 && dc.multi == nil {
		return Set{}, fmt.Errorf("%d policies need a Limiter that implements smartlimit.MultiLimiter", len(ps))
	}
	ls := make([]smartlimit.Limit, len(out))
	for i, p := range out {
		ls[i] = p.Limit
	}
	return Set{Policies: out, Limits: ls, Header: FormatPolicies(out)}, nil
}

// Decide checks d.Cost units for d.Key under the policies of s, which must
// not be empty, and fills in d's Policies, Policy, Result and Violated. A
// Concurrency policy on a smartlimit.Leaser takes a lease, which Decide
// returns: release it when the request is done, even when the client went
// away (context.WithoutCancel).
//
// When the limiter fails, Decide returns LimiterError's classification,
// unless the Decider is FailOpen and the error matches ErrUnavailable: then
// it lets the request pass, with d.Err the limiter's error (which the
// transport logs) and d.Result Allowed with Tier smartlimit.TierFailOpen.
func (dc *Decider) Decide(ctx context.Context, d *Decision, s Set) (*smartlimit.Lease, error) {
	policies, limits := s.Policies, s.Limits
	d.Policies, d.Policy = policies, policies[0]
	var lease *smartlimit.Lease
	var rs []smartlimit.Result
	var err error
	switch {
	case len(limits) > 1 && dc.each != nil:
		// Each limit's own result names the binding policy exactly, and
		// every policy that denied.
		if rs, err = dc.each.AllowAllResults(ctx, d.Key, d.Cost, limits...); err == nil {
			d.Result, d.Policy = smartlimit.Combine(rs), policies[smartlimit.Binding(rs)]
		}
	case len(limits) > 1:
		d.Result, err = dc.multi.AllowAll(ctx, d.Key, d.Cost, limits...)
		d.Policy = binding(policies, d.Result)
	case limits[0].Algorithm == smartlimit.Concurrency && dc.leaser != nil && d.Cost > 0:
		lease, d.Result, err = dc.leaser.Acquire(ctx, d.Key, limits[0])
	default:
		d.Result, err = dc.lim.AllowN(ctx, d.Key, limits[0], d.Cost)
	}
	if err != nil {
		if werr := LimiterError(ctx, err); dc.onError == FailClosed || !errors.Is(werr, ErrUnavailable) {
			return nil, werr
		}
		d.Err = err
		d.Result = smartlimit.Result{Allowed: true, Tier: smartlimit.TierFailOpen}
		return nil, nil
	}
	d.Violated = ViolatedPolicies(policies, d.Policy, d.Result, rs)
	return lease, nil
}

// Denies reports whether the request of d, decided by dc, is to be
// refused: the limiter denied it and the Mode is Block.
func (dc *Decider) Denies(d *Decision) bool {
	return !d.Result.Allowed && dc.mode == Block
}

// Wait waits out the Delay a leaky bucket admitted d's request with, in
// Block mode, and returns nil when the request may be served. When ctx is
// done first it returns an error matching ErrRequestDone and ctx.Err(): the
// request must not be served.
func (dc *Decider) Wait(ctx context.Context, d *Decision) error {
	if d.Result.Delay <= 0 || dc.mode != Block {
		return nil
	}
	t := time.NewTimer(d.Result.Delay)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("%w: %w (while waiting out Delay)", ErrRequestDone, ctx.Err())
	}
}

// ViolatedPolicies returns the policies that denied a request, as Decide
// fills Decision.Violated: nil when r, the combined result for ps, allowed
// it; with rs, the results of smartlimit.MultiResultLimiter.AllowAllResults
// in the order of ps, every policy that denied by itself; without rs,
// binding, the binding policy. The result may share ps's backing array.
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

// binding returns the policy whose limit gave r, for limiters without
// smartlimit.MultiResultLimiter. AllowAll reports only the binding Result,
// so it is found by capacity: when two policies have the same capacity the
// first is named.
func binding(ps []Policy, r smartlimit.Result) Policy {
	for _, p := range ps {
		if p.Limit.Capacity() == r.Limit {
			return p
		}
	}
	return ps[0]
}
