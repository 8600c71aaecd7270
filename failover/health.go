package failover

import (
	"context"
	"sync"
	"time"
)

// TierHealth is what Health reports about one tier.
type TierHealth struct {
	// Name is the tier's name.
	Name string
	// Up reports whether the tier takes traffic: its breaker is not Open
	// and its last health check, if any, succeeded.
	Up bool
	// Breaker is the state of the tier's circuit breaker: traffic goes to
	// the tier only when it is Closed (or, for a few probes, HalfOpen).
	Breaker BreakerState
	// ConsecutiveFailures is the count of failures in a row while Closed.
	ConsecutiveFailures int
	// RetryAt is, when Breaker is Open, when it will let a probe through.
	RetryAt time.Time
	// Latency is how long the last health check took.
	Latency time.Duration
	// CheckedAt is when the last health check ended; zero before the
	// first.
	CheckedAt time.Time
	// LastError is the last error that counted against the tier, from a
	// check or a call, and LastErrorAt when it happened. They stay after
	// the tier recovers.
	LastError   error
	LastErrorAt time.Time
}

// Health checks every tier now, concurrently, each within its deadline,
// and returns their health in tier order. A tier whose breaker is open and
// not yet due for a probe is not called; its entry shows the last check.
// Checks feed the breakers as calls do.
func (c *Coordinator) Health(ctx context.Context) []TierHealth {
	var wg sync.WaitGroup
	for _, t := range c.tiers {
		wg.Go(func() { c.check(ctx, t) })
	}
	wg.Wait()
	hs := make([]TierHealth, len(c.tiers))
	for i, t := range c.tiers {
		hs[i] = t.health()
	}
	return hs
}

// check runs one health check of t: AllowN of the probe key with cost 0,
// which consumes nothing but runs the tier's real path.
func (c *Coordinator) check(ctx context.Context, t *tier) {
	c.try(ctx, t, OpProbe, nil, func(ctx context.Context, t *tier) (bool, error) {
		r, err := t.lim.AllowN(ctx, c.probeKey, c.probeLimit, 0)
		return r.Allowed, err
	})
}

// healthLoop checks t every c.interval until ctx ends.
func (c *Coordinator) healthLoop(ctx context.Context, t *tier) {
	defer c.wg.Done()
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		c.check(ctx, t)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// note records a check's outcome, or a call's counted failure.
func (t *tier) note(clock func() time.Time, op Op, err error, failed bool, latency time.Duration) {
	now := clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if failed {
		t.lastErr, t.lastErrAt = err, now
	}
	if op == OpProbe {
		t.up = err == nil
		t.latency, t.checkedAt = latency, now
	}
}

func (t *tier) health() TierHealth {
	st, cons, retry := t.br.snapshot()
	t.mu.Lock()
	defer t.mu.Unlock()
	return TierHealth{
		Name: t.name, Up: t.up && st != Open, Breaker: st, ConsecutiveFailures: cons, RetryAt: retry,
		Latency: t.latency, CheckedAt: t.checkedAt, LastError: t.lastErr, LastErrorAt: t.lastErrAt,
	}
}
