package mongostore

import (
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/smartlimit/smartlimit/internal/algo"
)

// state is one document's algorithm state, decoded, as a call steps it.
type state struct {
	p     *algo.Params
	v     int64 // the version read; 0 when the document was absent
	s     algo.State
	log   algo.Log
	ls    algo.Leases
	dirty bool // an allowed request consumed something: the state must be written
}

// newState decodes d (nil: absent, a full and unused limit) for p's
// algorithm.
func newState(p *algo.Params, d *doc) *state {
	st := &state{p: p}
	if d == nil {
		return st
	}
	st.v = d.V
	switch p.Kind {
	case algo.SlidingWindow:
		// The two arrays are written together; a document edited by hand
		// into unequal lengths keeps the entries it can pair.
		k := min(len(d.T), len(d.Before), len(d.N))
		st.log.E = make([]algo.LogEntry, k)
		for i := range k {
			st.log.E[i] = algo.LogEntry{T: d.T[i], Before: d.Before[i], N: d.N[i]}
		}
	case algo.Concurrency:
		k := min(len(d.IDs), len(d.DL))
		st.ls.ID, st.ls.Deadline, st.ls.HW = d.IDs[:k], d.DL[:k], d.HW
	default:
		st.s = algo.State{A: d.A, B: d.B, C: d.C}
	}
	return st
}

// step decides a request of cost n at now with the shared step function of
// the state's algorithm, keeping the new state when it is allowed. lease
// names the lease a Concurrency request takes.
func (st *state) step(now, n int64, lease string) algo.Decision {
	var d algo.Decision
	switch st.p.Kind {
	case algo.SlidingWindow:
		d = algo.StepSlidingWindow(st.p, &st.log, now, n)
	case algo.Concurrency:
		d = algo.StepConcurrency(st.p, &st.ls, now, n, lease)
	default:
		algo.Step(st.p, &st.s, now, n, &d) // st.s changes only when allowed with n > 0
	}
	if d.Allowed && n > 0 {
		st.dirty = true
	}
	return d
}

// clone returns a copy of st that shares no slices with it.
func (st *state) clone() *state {
	c := *st
	c.log.E = slices.Clone(st.log.E)
	c.ls.ID, c.ls.Deadline = slices.Clone(st.ls.ID), slices.Clone(st.ls.Deadline)
	return &c
}

// fields returns the $set that stores st at now as version v: the version,
// the expiry and the algorithm's fields. expireAt is when the state is
// back to full and unused, so that a TTL index (or Cleanup) deleting the
// document then changes no decision. Its step drops expired leases first.
func (st *state) fields(now, v int64) bson.D {
	reset := st.step(now, 0, "").ResetAfter
	// BSON dates hold milliseconds: round up, never expire early.
	expireAt := time.UnixMilli((now + reset + 999) / 1000).UTC()
	f := make(bson.D, 0, 5)
	f = append(f, bson.E{Key: "v", Value: v}, bson.E{Key: "expireAt", Value: expireAt})
	switch st.p.Kind {
	case algo.SlidingWindow:
		t, b, n := make([]int64, len(st.log.E)), make([]int64, len(st.log.E)), make([]int64, len(st.log.E))
		for i, e := range st.log.E {
			t[i], b[i], n[i] = e.T, e.Before, e.N
		}
		f = append(f, bson.E{Key: "t", Value: t}, bson.E{Key: "u", Value: b}, bson.E{Key: "n", Value: n})
	case algo.Concurrency:
		f = append(f, bson.E{Key: "ids", Value: nonNil(st.ls.ID)}, bson.E{Key: "dl", Value: nonNil(st.ls.Deadline)}, bson.E{Key: "hw", Value: st.ls.HW})
	default:
		f = append(f, bson.E{Key: "a", Value: st.s.A}, bson.E{Key: "b", Value: st.s.B}, bson.E{Key: "c", Value: st.s.C})
	}
	return f
}

// nonNil returns s, or an empty slice for nil, so that an empty log is
// stored as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
