package failover

import (
	"context"

	"github.com/smartlimit/smartlimit"
)

// Policy says how a check is decided when no tier can answer: every tier's
// breaker is open, or every tier tried failed or timed out. The zero Policy
// is FailClosed.
type Policy uint8

// The policies.
const (
	// FailClosed denies: Result.Tier is smartlimit.TierFailClosed and
	// RetryAfter is Options.RetryAfter. It is the default, because a limit
	// that guards a login form or a paid quota must not stop protecting it
	// when Redis is down.
	FailClosed Policy = iota
	// FailOpen allows: Result.Tier is smartlimit.TierFailOpen and
	// Remaining is what a fresh key would have. For limits whose only job
	// is to smooth load, where an outage of the limiter must not become an
	// outage of the service.
	FailOpen
	// Local decides in Options.Local, an in-process limiter (a
	// memfallback.Store, whose LocalShare shrinks each limit to this
	// process's share). Without Options.Local, or when it fails, Local
	// acts as FailClosed.
	Local
)

// String returns "fail-closed", "fail-open" or "local".
func (p Policy) String() string {
	switch p {
	case FailClosed:
		return "fail-closed"
	case FailOpen:
		return "fail-open"
	case Local:
		return "local"
	}
	return "unknown"
}

// strictness orders policies for AllowAll, where the strictest of the
// limits' policies applies.
func (p Policy) strictness() int {
	switch p {
	case FailOpen:
		return 0
	case Local:
		return 1
	}
	return 2 // FailClosed and unknown values
}

type policyKey struct{}

// WithPolicy returns a context that makes the Coordinator use p for calls
// made with it, whatever Options.Policy says.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// policy returns the policy for key under l: the context's, then
// Options.Policy's, then FailClosed. undecided reports whether a tier could
// not decide this request (smartlimit.ErrNotDecided): then FailOpen answers
// as FailClosed. A policy is what an outage means, and a full table or a
// contended key is no outage but a condition a client can bring about
// (filling the table with keys, hammering its own): failing open there
// would let it through unlimited.
func (c *Coordinator) policy(ctx context.Context, key string, l smartlimit.Limit, undecided bool) Policy {
	p := FailClosed
	if q, ok := ctx.Value(policyKey{}).(Policy); ok {
		p = q
	} else if c.policyFn != nil {
		p = c.policyFn(key, l)
	}
	if undecided && p == FailOpen {
		return FailClosed
	}
	return p
}

// openResult is the answer of FailOpen: allowed, as a fresh key would be.
func openResult(l smartlimit.Limit, n int64) smartlimit.Result {
	c := l.Capacity()
	return smartlimit.Result{Allowed: true, Limit: c, Remaining: max(c-n, 0), Tier: smartlimit.TierFailOpen}
}

// closedResult is the answer of FailClosed: denied, retry after the hint.
// Nothing better is known about when the key resets, so ResetAfter is the
// hint too.
func (c *Coordinator) closedResult(l smartlimit.Limit) smartlimit.Result {
	return smartlimit.Result{Limit: l.Capacity(), RetryAfter: c.retryAfter, ResetAfter: c.retryAfter, Tier: smartlimit.TierFailClosed}
}

// PolicyByLimit returns an Options.Policy that looks each limit up in m
// and returns def for limits not in it. m is read, never written: do not
// change it while the Coordinator runs.
func PolicyByLimit(m map[smartlimit.Limit]Policy, def Policy) func(key string, l smartlimit.Limit) Policy {
	return func(_ string, l smartlimit.Limit) Policy {
		if p, ok := m[l]; ok {
			return p
		}
		return def
	}
}
