package memfallback

import (
	"sync"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// keyState holds one user key's entries, one per limit in use: nearly
// always one, so the first is inline and the others are chained from it.
// An entry is identified as the Redis key identifies state: by the
// algorithm and the limit's reduced constants (its Params), so 10/s and
// 20/2s share state, and different limits on one key do not.
//
// mu guards the entries. Changing which entries a key holds, or removing
// the key, also requires its shard's mu, taken first. A removed keyState is
// dead: its first entry's p is nil, and a check that reached it through a
// table without the shard lock looks again.
type keyState struct {
	mu    sync.Mutex
	key   string
	first entry
}

// dead reports whether ks was removed from its table. Requires ks.mu held.
func (ks *keyState) dead() bool { return ks.first.p == nil }

// find returns ks's entry for p, or nil. Requires ks.mu held and ks alive.
func (ks *keyState) find(p *algo.Params) *entry {
	for e := &ks.first; e != nil; e = e.next() {
		if e.p == p || *e.p == *p { // the same memo, nearly always
			return e
		}
	}
	return nil
}

// add stores a copy of e, an entry for a limit ks does not hold yet.
// Requires both locks held.
func (ks *keyState) add(e *entry) {
	ne := new(entry)
	*ne = *e
	ne.ext().next = ks.first.next()
	ks.first.ext().next = ne
}

// drop removes the entry *link points to, given as link = &prev.x.next or
// nil for the first; when that was the last entry ks is left dead.
// Requires both locks held.
func (ks *keyState) drop(link **entry) {
	if link == nil {
		if next := ks.first.next(); next != nil {
			ks.first = *next
		} else {
			ks.first = entry{}
		}
		return
	}
	*link = (*link).next()
}

// remove drops ks's entry for p, if it holds one, and reports whether it
// did. Requires both locks held.
func (ks *keyState) remove(p *algo.Params) bool {
	if *ks.first.p == *p {
		ks.drop(nil)
		return true
	}
	for prev := &ks.first; prev.next() != nil; prev = prev.x.next {
		if *prev.x.next.p == *p {
			ks.drop(&prev.x.next)
			return true
		}
	}
	return false
}

// dropExpired drops ks's entries that are back to their full state at now
// and returns how many it dropped. Requires both locks held.
func (ks *keyState) dropExpired(now int64) int {
	n := 0
	for prev := &ks.first; prev.next() != nil; {
		if prev.x.next.expired(now) {
			ks.drop(&prev.x.next)
			n++
		} else {
			prev = prev.x.next
		}
	}
	if ks.first.expired(now) {
		ks.drop(nil)
		n++
	}
	return n
}

// sweepKey drops ks's replenished entries and removes ks, whose tag is
// tag, when none is left; it skips held, a key the caller has locked. It
// returns how many entries it dropped. Requires sh.mu held.
func (sh *shard) sweepKey(tag uint64, ks, held *keyState, now int64) int {
	if ks == held {
		return 0
	}
	ks.mu.Lock()
	n := ks.dropExpired(now)
	if ks.dead() {
		sh.unlink(tag, ks)
	}
	ks.mu.Unlock()
	sh.n -= n
	return n
}

// entry is one key's state under one limit. Fixed-size algorithms use s;
// SlidingWindow and Concurrency use x. p points to the limit's memoised
// Params, which never change. Together they keep a keyState to 64 bytes,
// one cache line: a check writes one line, and a store full at 100,000
// keys holds less (TestFlood reports it).
type entry struct {
	p *algo.Params
	s algo.State
	x *ext // nil until the entry has a log, leases or a next entry
}

// next returns the key's entry after e, or nil.
func (e *entry) next() *entry {
	if e.x == nil {
		return nil
	}
	return e.x.next
}

// ext returns e.x, allocating it first if need be.
func (e *entry) ext() *ext {
	if e.x == nil {
		e.x = &ext{}
	}
	return e.x
}

// ext is what an entry holds beyond a fixed-size state: the state of the
// algorithms whose state grows with their rate, and the key's next entry.
type ext struct {
	log    algo.Log    // SlidingWindow
	leases algo.Leases // Concurrency
	hw     int64       // Concurrency: leases.HW before the last step, for undo
	next   *entry      // the key's next entry, for another limit
}

// step decides a request of cost n on e at now, as the scripts' step does,
// writing the decision to *d, and keeps the new state when it is allowed.
// id names the lease that a Concurrency request acquires.
func (e *entry) step(now, n int64, id string, d *algo.Decision) {
	switch e.p.Kind {
	case algo.SlidingWindow:
		*d = algo.StepSlidingWindow(e.p, &e.ext().log, now, n)
	case algo.Concurrency:
		x := e.ext()
		x.hw = x.leases.HW
		*d = algo.StepConcurrency(e.p, &x.leases, now, n, id)
	default:
		algo.Step(e.p, &e.s, now, n, d) // e.s changes only when allowed with n > 0
	}
}

// undo takes back what step added for an allowed request of cost n > 0:
// the log entry or the lease it appended (the algo step functions append
// at the end). Fixed-size states are never committed by try, so they need
// no undo.
func (e *entry) undo(n int64) {
	if n == 0 {
		return
	}
	switch e.p.Kind {
	case algo.SlidingWindow:
		e.x.log.E = e.x.log.E[:len(e.x.log.E)-1]
	case algo.Concurrency:
		ls := &e.x.leases
		k := len(ls.ID) - int(n)
		clear(ls.ID[k:])
		ls.ID, ls.Deadline, ls.HW = ls.ID[:k], ls.Deadline[:k], e.x.hw
	}
}

// try decides like step but, for fixed-size states, returns the new state
// instead of keeping it; logs and leases are changed and must be undone
// with undo if the decision is not kept.
func (e *entry) try(now, n int64) (s algo.State, d algo.Decision) {
	if e.p.Kind == algo.SlidingWindow || e.p.Kind == algo.Concurrency {
		e.step(now, n, "", &d)
		return e.s, d
	}
	s = e.s
	algo.Step(e.p, &s, now, n, &d)
	return s, d
}

// expired reports whether e is back to its full, unused state at now, so
// that dropping it changes no decision. It prunes logs and leases.
func (e *entry) expired(now int64) bool {
	switch e.p.Kind {
	case algo.SlidingWindow, algo.Concurrency:
		var d algo.Decision
		e.step(now, 0, "", &d)
		return d.ResetAfter == 0
	}
	return algo.Expired(e.p, e.s, now)
}

// result writes to *r the Result of decision d under p. (Through a pointer:
// a Result is too large to return in registers, and copying it out of every
// call on the hot path cost a third of a check.)
func result(r *smartlimit.Result, p *algo.Params, d *algo.Decision) {
	*r = smartlimit.Result{
		Allowed:    d.Allowed,
		Limit:      p.Burst,
		Remaining:  d.Remaining,
		ResetAfter: time.Duration(d.ResetAfter) * time.Microsecond,
		RetryAfter: time.Duration(d.RetryAfter) * time.Microsecond,
		Delay:      time.Duration(d.Delay) * time.Microsecond,
		Tier:       smartlimit.TierMemory,
	}
	if d.RetryAfter == algo.Never {
		r.RetryAfter = smartlimit.Never
	}
}

// trimHeld drops the replenished entries of ks, a key the caller has
// locked, which makeRoom skips, and returns ks, or nil when that removed
// it: a full shard whose only replenished entries are the checked key's own
// still has room for the key. Requires sh.mu and ks.mu held, and no pointer
// into ks's entries in use.
func (sh *shard) trimHeld(tag uint64, ks *keyState, now int64) *keyState {
	sh.n -= ks.dropExpired(now)
	if ks.dead() {
		sh.unlink(tag, ks)
		return nil
	}
	return ks
}
