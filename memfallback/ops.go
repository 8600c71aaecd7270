package memfallback

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// makeRoom reports whether sh can take need more entries, dropping
// replenished entries among a bounded sample when it is full. held is a
// key the caller has locked, which is not sampled. Requires sh.mu held.
func (s *Store) makeRoom(sh *shard, held *keyState, now int64, need int) bool {
	if sh.n+need <= s.shardCap {
		return true
	}
	t := sh.t.Load()
	start, seen := rand.Uint64(), 0 // a fresh sample each time
	for j := range uint64(len(t.kss)) {
		if i := (start + j) & t.mask; t.kss[i].Load() != nil {
			sh.sweepKey(t.tags[i].Load(), t.kss[i].Load(), held, now)
			if seen++; seen == evictSample {
				break
			}
		}
	}
	return sh.n+need <= s.shardCap
}

// full returns the outcome of OnFull for a request under p.
func (s *Store) full(p *algo.Params) (smartlimit.Result, error) {
	if s.onFull == ErrorWhenFull {
		return smartlimit.Result{}, ErrFull
	}
	return smartlimit.Result{Limit: p.Burst, RetryAfter: s.fullWait, Tier: smartlimit.TierMemory}, nil
}

// Allow is shorthand for AllowN(ctx, key, l, 1).
func (s *Store) Allow(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	return s.AllowN(ctx, key, l, 1)
}

// AllowN reports whether n units may pass for key under l now, and consumes
// them if so. n = 0 asks without consuming. A Concurrency limit acquires a
// lease that only expires; use Acquire to be able to release it.
func (s *Store) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (r smartlimit.Result, err error) {
	err = s.allow(ctx, &r, key, l, n, "")
	return r, err
}

// allow decides AllowN's request, writing its result to *r.
func (s *Store) allow(ctx context.Context, r *smartlimit.Result, key string, l smartlimit.Limit, n int64, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, validated := s.memoHit(l, n), false
	if p == nil {
		var err error
		if p, validated, err = s.newParams(key, l, n); err != nil {
			return err
		}
	}
	tag := s.tag(key)
	sh := s.shard(tag)
	// The clock is read before the key's lock, as the peers do: measured
	// here, that makes a check of one key from one goroutine 7% faster
	// and, when two goroutines contend for that key, 9% slower. A stale
	// time makes the other algorithms stricter, but would end a lease
	// early, so Concurrency reads it under the lock (now 0).
	var now int64
	if p.Kind != algo.Concurrency {
		now = s.now()
	}
	if ks := sh.t.Load().candidate(tag); ks != nil && s.decide(r, ks, key, p, now, n, id) {
		return nil
	}
	return s.allowLocked(r, sh, tag, key, l, p, validated, n, id)
}

// decide decides the request at now (0: read the clock under ks's lock) on
// ks's entry for p, writing its result to *r, and reports true; or reports
// false, deciding nothing, when ks is not key's state (a rare collision of
// tags), holds no entry for p, or has been removed since it was found
// without the shard lock.
func (s *Store) decide(r *smartlimit.Result, ks *keyState, key string, p *algo.Params, now, n int64, id string) bool {
	ks.mu.Lock()
	if !ks.dead() && ks.key == key {
		if e := ks.find(p); e != nil {
			if now == 0 {
				now = s.now()
			}
			var d algo.Decision
			e.step(now, n, id, &d)
			ks.mu.Unlock()
			result(r, p, &d)
			return true
		}
	}
	ks.mu.Unlock()
	return false
}

// allowLocked is allow for a key or limit that has no state yet, or that
// was just removed: it looks again under the shard lock and creates the
// state when the request changes it.
func (s *Store) allowLocked(r *smartlimit.Result, sh *shard, tag uint64, key string, l smartlimit.Limit, p *algo.Params, validated bool, n int64, id string) error {
	var d algo.Decision
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ks := sh.t.Load().find(tag, key)
	if ks != nil {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if e := ks.find(p); e != nil {
			e.step(s.now(), n, id, &d)
			result(r, p, &d)
			return nil
		}
	}
	if !validated {
		if err := smartlimit.CheckRequest(key, l, n); err != nil {
			return err
		}
	}
	now := s.now()
	e := entry{p: p}
	e.step(now, n, id, &d)
	if d.Allowed && n > 0 { // only a change of state needs an entry, as in Redis
		if ks != nil && sh.n+1 > s.shardCap {
			ks = sh.trimHeld(tag, ks, now) // the deferred Unlock holds the old ks
		}
		if !s.makeRoom(sh, ks, now, 1) {
			var err error
			*r, err = s.full(p)
			return err
		}
		sh.n++
		if ks != nil {
			ks.add(&e)
		} else {
			sh.put(tag, &keyState{key: key, first: e})
		}
	}
	result(r, p, &d)
	return nil
}

// Peek returns key's state under l without consuming anything: Remaining
// (and ResetAfter) is what is there now, and Allowed, RetryAfter and Delay
// are those of a request of cost 1, as the scripts' peek mode reports them.
func (s *Store) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return smartlimit.Result{}, err
	}
	p, validated, err := s.params(key, l, 1)
	if err != nil {
		return smartlimit.Result{}, err
	}
	sh, _, ks := s.locked(key)
	defer sh.mu.Unlock()
	var e *entry
	if ks != nil {
		defer ks.mu.Unlock()
		e = ks.find(p)
	}
	now := s.now()
	if e == nil {
		if !validated {
			if err := smartlimit.CheckRequest(key, l, 1); err != nil {
				return smartlimit.Result{}, err
			}
		}
		e = &entry{p: p}
	}
	_, d0 := e.try(now, 0)
	_, d := e.try(now, 1)
	if d.Allowed {
		e.undo(1)
	}
	d.Remaining, d.ResetAfter = d0.Remaining, d0.ResetAfter
	var r smartlimit.Result
	result(&r, p, &d)
	return r, nil
}

// Wait blocks until one unit passes for key under l, or ctx ends; see
// smartlimit.WaitN.
func (s *Store) Wait(ctx context.Context, key string, l smartlimit.Limit) error {
	return smartlimit.WaitN(ctx, s, key, l, 1)
}

// WaitN blocks until n units pass for key under l, consuming them, or ctx
// ends; see smartlimit.WaitN. Waiting uses real timers, not Options.Clock.
func (s *Store) WaitN(ctx context.Context, key string, l smartlimit.Limit, n int64) error {
	return smartlimit.WaitN(ctx, s, key, l, n)
}

// AllowMany decides each request as AllowN would, in request order, and
// returns the results in that order. Bad input in any request is an
// *InputError before anything is decided. With OnFull set to ErrorWhenFull,
// items that found no room fail with ErrFull in a *smartlimit.BatchError and
// the other results are valid.
func (s *Store) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if err := smartlimit.CheckRequest(r.Key, r.Limit, r.Cost); err != nil {
			return nil, fmt.Errorf("smartlimit: request %d: %w", i, err)
		}
	}
	out := make([]smartlimit.Result, len(reqs))
	var errs []error
	for i, r := range reqs {
		if err := s.allow(context.Background(), &out[i], r.Key, r.Limit, r.Cost, ""); err != nil {
			if errs == nil {
				errs = make([]error, len(reqs))
			}
			errs[i] = err
		}
	}
	if errs != nil {
		return out, &smartlimit.BatchError{Errs: errs}
	}
	return out, nil
}

// multiItem is one limit of an AllowAll call.
type multiItem struct {
	p   *algo.Params // memoised, as entry.p
	e   *entry       // nil: no state yet
	tmp entry        // the zero state for a key without one
	ns  algo.State
	d   algo.Decision
}

// AllowAll consumes n units for key under every limit in limits, or under
// none of them when any denies, atomically: for example 10/s and 1000/day
// together. The limits must differ and must not be Concurrency limits. The
// Result is the binding one, as smartlimit.Combine describes; the limits
// that would have allowed report Allowed false with what is still there.
func (s *Store) AllowAll(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) (smartlimit.Result, error) {
	rs, err := s.AllowAllResults(ctx, key, n, limits...)
	if err != nil {
		return smartlimit.Result{}, err
	}
	return smartlimit.Combine(rs), nil
}

// AllowAllResults is AllowAll with each limit's own Result, in the order of
// limits; see smartlimit.MultiResultLimiter.
func (s *Store) AllowAllResults(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) ([]smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(limits) == 0 {
		return nil, &smartlimit.InputError{Field: "limits", Value: "", Reason: "AllowAll needs at least one limit"}
	}
	var buf [4]multiItem
	items := buf[:0]
	if len(limits) > len(buf) {
		items = make([]multiItem, 0, len(limits))
	}
	for _, l := range limits {
		if err := smartlimit.CheckRequest(key, l, n); err != nil {
			return nil, err
		}
		if l.Algorithm == smartlimit.Concurrency {
			return nil, &smartlimit.InputError{Field: "algorithm", Value: l.String(), Reason: "AllowAll does not take Concurrency limits; use Acquire"}
		}
		p, _, err := s.params(key, l, n)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if *it.p == *p {
				return nil, &smartlimit.InputError{Field: "limits", Value: l.String(), Reason: "the same limit twice"}
			}
		}
		items = append(items, multiItem{p: p})
	}

	sh, tag, ks := s.locked(key)
	defer sh.mu.Unlock()
	now := s.now()
	if ks != nil {
		defer ks.mu.Unlock()
		if sh.n+len(items) > s.shardCap { // room may be needed
			ks = sh.trimHeld(tag, ks, now) // the deferred Unlock holds the old ks
		}
	}
	all := true
	for i := range items {
		it := &items[i]
		if ks != nil {
			it.e = ks.find(it.p)
		}
		e := it.e
		if e == nil {
			it.tmp.p = it.p
			e = &it.tmp
		}
		it.ns, it.d = e.try(now, n)
		all = all && it.d.Allowed
	}
	if all && n > 0 {
		fresh := 0
		for i := range items {
			if items[i].e == nil {
				fresh++
			}
		}
		if fresh > 0 && !s.makeRoom(sh, ks, now, fresh) {
			undoAll(items, n)
			rs := make([]smartlimit.Result, len(items))
			for i := range items {
				var err error
				if rs[i], err = s.full(items[i].p); err != nil {
					return nil, err
				}
			}
			return rs, nil
		}
	}
	rs := make([]smartlimit.Result, 0, len(items))
	for i := range items {
		it := &items[i]
		if it.d.Allowed && n > 0 {
			if all {
				switch {
				case it.e != nil:
					it.e.s = it.ns
				case ks != nil:
					it.tmp.s = it.ns
					ks.add(&it.tmp)
					sh.n++
				default:
					// A new key, locked before it is published: its
					// other limits are added below.
					it.tmp.s = it.ns
					ks = &keyState{key: key, first: it.tmp}
					ks.mu.Lock()
					defer ks.mu.Unlock()
					sh.put(tag, ks)
					sh.n++
				}
			} else {
				// Nothing is charged: report what is there, with no retry
				// of its own, as the scripts do.
				e := it.e
				if e == nil {
					e = &it.tmp
				}
				e.undo(n)
				_, d0 := e.try(now, 0)
				it.d.Allowed, it.d.Remaining, it.d.ResetAfter = false, d0.Remaining, d0.ResetAfter
			}
		}
		rs = append(rs, smartlimit.Result{})
		result(&rs[len(rs)-1], it.p, &it.d)
	}
	return rs, nil
}

// undoAll takes back every allowed item's appended log entries.
func undoAll(items []multiItem, n int64) {
	for i := range items {
		it := &items[i]
		if !it.d.Allowed {
			continue
		}
		if it.e != nil {
			it.e.undo(n)
		} else {
			it.tmp.undo(n)
		}
	}
}

// Acquire takes a lease for key under l, which must be a Concurrency limit.
// When the Result is not Allowed the lease is nil. Release the lease when
// the work is done; otherwise it expires after l.Period.
func (s *Store) Acquire(ctx context.Context, key string, l smartlimit.Limit) (*smartlimit.Lease, smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, smartlimit.Result{}, err
	}
	if l.Algorithm != smartlimit.Concurrency {
		return nil, smartlimit.Result{}, &smartlimit.InputError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "Acquire takes a Concurrency limit"}
	}
	id := smartlimit.NewLeaseID()
	var r smartlimit.Result
	err := s.allow(ctx, &r, key, l, 1, id)
	if err != nil || !r.Allowed {
		return nil, r, err
	}
	return smartlimit.NewLease(key, l, id, s.release), r, nil
}

func (s *Store) release(ctx context.Context, ls *smartlimit.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, _, err := s.params(ls.Key, ls.Limit, 0)
	if err != nil {
		return err
	}
	if ls.ID == "" {
		return nil // AllowN's anonymous leases are stored without an ID and cannot be released
	}
	sh, _, ks := s.locked(ls.Key)
	if ks != nil {
		if e := ks.find(p); e != nil && e.x != nil {
			e.x.leases.Release(ls.ID)
		}
		ks.mu.Unlock()
	}
	sh.mu.Unlock()
	return nil
}

// Reset forgets key's state under l: the next check finds a full limit.
func (s *Store) Reset(ctx context.Context, key string, l smartlimit.Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := smartlimit.CheckRequest(key, l, 0); err != nil {
		return err
	}
	p, _, err := s.params(key, l, 0)
	if err != nil {
		return err
	}
	sh, tag, ks := s.locked(key)
	if ks != nil {
		if ks.remove(p) {
			sh.n--
			if ks.dead() {
				sh.unlink(tag, ks)
			}
		}
		ks.mu.Unlock()
	}
	sh.mu.Unlock()
	return nil
}
