package failover

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/testkit"
)

// t0 is the fake clock's start.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is a clock the test moves.
type fakeClock = testkit.Clock

func newClock() *fakeClock { return testkit.NewClock(t0) }

// behaviour is what a fake tier does with a call.
type behaviour int32

const (
	ok       behaviour = iota // answer: allowed while Remaining lasts
	fail                      // return errDown at once
	hang                      // block until the context ends
	batchErr                  // AllowMany: a *BatchError for the last item; others as ok
	badReply                  // return a bad-input error, as a stricter tier might
)

var errDown = errors.New("fake: connection refused")

// fakeTier is a Limiter whose behaviour the test switches. It counts its
// calls and keeps a per-key count, so that a test can see which tier
// decided and what it consumed.
type fakeTier struct {
	name    string
	clock   *fakeClock    // if set, each call advances it by latency
	latency time.Duration // fake time each call takes
	mode    atomic.Int32
	calls   atomic.Int64
	resets  atomic.Int64

	mu   sync.Mutex
	used map[string]int64
}

func newFake(name string) *fakeTier { return &fakeTier{name: name, used: map[string]int64{}} }

func (f *fakeTier) set(b behaviour) { f.mode.Store(int32(b)) }

func (f *fakeTier) enter(ctx context.Context) error {
	f.calls.Add(1)
	if f.clock != nil {
		f.clock.Advance(f.latency)
	}
	switch behaviour(f.mode.Load()) {
	case fail:
		return errDown
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case badReply:
		return &smartlimit.InputError{Field: "rate", Value: "x", Reason: "the fake rejects it"}
	}
	return nil
}

func (f *fakeTier) decide(key string, l smartlimit.Limit, n int64) smartlimit.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := l.Capacity()
	r := smartlimit.Result{Limit: c, Tier: "fake-" + f.name}
	if f.used[key]+n <= c {
		f.used[key] += n
		r.Allowed = true
	} else {
		r.RetryAfter = l.Period
	}
	r.Remaining = c - f.used[key]
	return r
}

func (f *fakeTier) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	if err := f.enter(ctx); err != nil {
		return smartlimit.Result{}, err
	}
	return f.decide(key, l, n), nil
}

func (f *fakeTier) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	rs := make([]smartlimit.Result, len(reqs))
	for i, r := range reqs {
		rs[i] = f.decide(r.Key, r.Limit, r.Cost)
	}
	if behaviour(f.mode.Load()) == batchErr {
		errs := make([]error, len(reqs))
		errs[len(errs)-1] = errDown
		rs[len(rs)-1] = smartlimit.Result{}
		return rs, &smartlimit.BatchError{Errs: errs}
	}
	return rs, nil
}

func (f *fakeTier) Reset(ctx context.Context, key string, l smartlimit.Limit) error {
	if err := f.enter(ctx); err != nil {
		return err
	}
	f.resets.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.used, key)
	return nil
}

func (f *fakeTier) usedOf(key string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used[key]
}

// fullTier is a fakeTier with every optional interface.
type fullTier struct {
	*fakeTier
	released atomic.Int64
}

func newFull(name string) *fullTier { return &fullTier{fakeTier: newFake(name)} }

func (f *fullTier) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	if err := f.enter(ctx); err != nil {
		return smartlimit.Result{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rem := l.Capacity() - f.used[key]
	return smartlimit.Result{Allowed: rem >= 1, Limit: l.Capacity(), Remaining: rem, Tier: "fake-" + f.name}, nil
}

func (f *fullTier) AllowAll(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) (smartlimit.Result, error) {
	if err := f.enter(ctx); err != nil {
		return smartlimit.Result{}, err
	}
	rs := make([]smartlimit.Result, len(limits))
	for i, l := range limits {
		rs[i] = f.decide(key+"|"+l.String(), l, n)
	}
	return smartlimit.Combine(rs), nil
}

func (f *fullTier) Acquire(ctx context.Context, key string, l smartlimit.Limit) (*smartlimit.Lease, smartlimit.Result, error) {
	if err := f.enter(ctx); err != nil {
		return nil, smartlimit.Result{}, err
	}
	r := f.decide(key, l, 1)
	if !r.Allowed {
		return nil, r, nil
	}
	return smartlimit.NewLease(key, l, "id-"+f.name, func(ctx context.Context, ls *smartlimit.Lease) error {
		if err := f.enter(ctx); err != nil {
			return err
		}
		f.released.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.used[ls.Key]--
		return nil
	}), r, nil
}

// events records what the Hook reports.
type events struct {
	mu       sync.Mutex
	changes  []StateChange
	attempts []Attempt
}

func (e *events) hook() Hook {
	return Hook{
		StateChange: func(_ context.Context, c StateChange) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changes = append(e.changes, c)
		},
		Attempt: func(_ context.Context, a Attempt) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.attempts = append(e.attempts, a)
		},
	}
}

// transitions returns the breaker changes so far as "tier:from>to".
func (e *events) transitions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.changes {
		out = append(out, c.Tier+":"+c.From.String()+">"+c.To.String())
	}
	return out
}

func (e *events) lastAttempt() Attempt {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts[len(e.attempts)-1]
}
