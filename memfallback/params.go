package memfallback

import (
	"fmt"
	"math/big"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
)

const memoSlots = 256

type memo struct {
	l smartlimit.Limit
	p algo.Params
}

// params returns l's constants as this store applies them (scaled by
// LocalShare). validated reports whether key, l and n were checked with
// smartlimit.CheckRequest; when false, only l and the sign of n are known
// good, and the caller checks the key before it creates state for it.
func (s *Store) params(key string, l smartlimit.Limit, n int64) (p *algo.Params, validated bool, err error) {
	if p := s.memoHit(l, n); p != nil {
		return p, false, nil
	}
	return s.newParams(key, l, n)
}

// memoHit returns l's memoised Params when l is in the memo and n is a
// cost that needs no check beyond l's, or nil. It is the hot path of
// params, kept small enough to inline into the checks.
func (s *Store) memoHit(l smartlimit.Limit, n int64) *algo.Params {
	if m := s.memo[memoIndex(l)].Load(); m != nil && m.l == l && n >= 0 && (n <= 1 || l.Algorithm != smartlimit.Concurrency) {
		return &m.p
	}
	return nil
}

// newParams validates a request whose limit missed the memo and memoises
// the limit's Params.
func (s *Store) newParams(key string, l smartlimit.Limit, n int64) (*algo.Params, bool, error) {
	if err := smartlimit.CheckRequest(key, l, n); err != nil {
		return nil, false, err
	}
	m := &memo{l: l}
	var err error
	if m.p, err = s.applied(l); err != nil {
		// CheckRequest accepted it, and applied keeps every limit it
		// accepts exact: not expected, and not the store failing.
		return nil, false, fmt.Errorf("smartlimit: memfallback: %v: %w: %w", l, smartlimit.ErrNotDecided, err)
	}
	s.memo[memoIndex(l)].Store(m)
	return &m.p, true, nil
}

func memoIndex(l smartlimit.Limit) uint64 {
	h := uint64(l.Rate)*0x9e3779b97f4a7c15 ^ uint64(l.Period)*0xbf58476d1ce4e5b9 ^ uint64(l.Burst)*0x94d049bb133111eb ^ uint64(l.Algorithm)
	return (h >> 32) % memoSlots
}

// applied returns l's Params scaled by the store's LocalShare, as its
// doc states: the capacity c becomes max(1, ⌊c·share⌋); a window or
// Concurrency limit keeps its Period; a bucket limit refills at share ×
// Rate per Period when exact arithmetic holds that, or else at the closest
// rate below it that does. (Scaling Rate alone, as before, changes the
// reduced fraction Period/Rate and so can leave algo.NewParams' bounds for
// limits that Redis takes, like 100000/720h at 1/3.)
func (s *Store) applied(l smartlimit.Limit) (algo.Params, error) {
	k, periodUS := algo.Kind(l.Algorithm), l.Period.Microseconds()
	if s.shareNum == nil {
		return algo.NewParams(k, l.Rate, periodUS, l.Burst)
	}
	full, err := algo.NewParams(k, l.Rate, periodUS, l.Burst) // CheckRequest accepted it
	if err != nil {
		return full, err
	}
	c := new(big.Int).Mul(big.NewInt(full.Burst), s.shareNum)
	capacity := max(1, c.Quo(c, s.shareDen).Int64())
	switch k {
	case algo.GCRA, algo.TokenBucket, algo.LeakyBucket:
	default:
		return algo.NewParams(k, capacity, periodUS, 0)
	}
	// Units per µs: R/P for the limit, R·share/P for this store. NewParams
	// needs the reduced P' with capacity·P' ≤ MaxExact/2 and R' ≤ MaxExact/4.
	num := new(big.Int).Mul(big.NewInt(full.R), s.shareNum)
	den := new(big.Int).Mul(big.NewInt(full.P), s.shareDen)
	maxP, maxR := big.NewInt((algo.MaxExact/2)/capacity), big.NewInt(algo.MaxExact/4)
	r, p := lowerApprox(num, den, maxR, maxP)
	if r.Sign() == 0 {
		// Slower than one unit per maxP µs: no exact rate is as slow, so
		// take the slowest there is.
		r.SetInt64(1)
		p.Set(maxP)
	}
	return algo.NewParams(k, r.Int64(), p.Int64(), capacity)
}

// lowerApprox returns the largest fraction r/p ≤ num/den with r ≤ maxR and
// p ≤ maxP (num/den itself, reduced, when it fits), walking the
// Stern–Brocot tree in runs, as the continued fraction of num/den does.
// Between neighbours lo < x < hi of the tree every fraction has a
// denominator at least lo's plus hi's and a numerator at least their sum,
// so when a run of lo's steps is cut short by a bound, lo is the answer.
func lowerApprox(num, den, maxR, maxP *big.Int) (r, p *big.Int) {
	loR, loP := big.NewInt(0), big.NewInt(1)
	hiR, hiP := big.NewInt(1), big.NewInt(0)
	var a, b, t, u big.Int
	for hiCut := false; ; {
		// lo += t·hi for the largest t with lo+t·hi ≤ x:
		// t = ⌊(num·loP − loR·den) / (hiR·den − num·hiP)⌋.
		a.Sub(u.Mul(num, loP), t.Mul(loR, den))
		b.Sub(u.Mul(hiR, den), t.Mul(num, hiP))
		t.Quo(&a, &b)
		cut := bound(&t, loR, hiR, maxR)
		cut = bound(&t, loP, hiP, maxP) || cut
		loR.Add(loR, u.Mul(&t, hiR))
		loP.Add(loP, u.Mul(&t, hiP))
		// Bounded, or lo = x, or hi was bounded: lo+hi is then out of
		// bounds, and so is every fraction between lo and hi.
		if cut || hiCut || a.Cmp(u.Mul(&t, &b)) == 0 {
			return loR, loP
		}
		// hi += t·lo for the largest t with hi+t·lo > x:
		// t = ⌊(hiR·den − num·hiP − 1) / (num·loP − loR·den)⌋.
		a.Sub(u.Mul(num, loP), t.Mul(loR, den))
		b.Sub(u.Mul(hiR, den), t.Mul(num, hiP))
		t.Quo(b.Sub(&b, big.NewInt(1)), &a)
		hiCut = bound(&t, hiR, loR, maxR)
		hiCut = bound(&t, hiP, loP, maxP) || hiCut
		hiR.Add(hiR, u.Mul(&t, loR))
		hiP.Add(hiP, u.Mul(&t, loP))
	}
}

// bound lowers *t so that base + t·step ≤ limit, and reports whether it
// had to. base never exceeds limit.
func bound(t, base, step, limit *big.Int) bool {
	if step.Sign() == 0 {
		return false
	}
	var m big.Int
	m.Quo(m.Sub(limit, base), step)
	if t.Cmp(&m) > 0 {
		t.Set(&m)
		return true
	}
	return false
}

// rationalShare returns the first convergent of the continued fraction of
// f's exact binary value that is f as a float64 (1/3 for 1.0/3), so that a
// share 1/N scales limits by exactly 1/N.
func rationalShare(f float64) (num, den *big.Int) {
	x := new(big.Rat).SetFloat64(f)
	n, d := new(big.Int).Set(x.Num()), new(big.Int).Set(x.Denom())
	p0, q0 := big.NewInt(0), big.NewInt(1)
	p1, q1 := big.NewInt(1), big.NewInt(0)
	var a, r big.Int
	for d.Sign() != 0 {
		a.QuoRem(n, d, &r)
		p0.Add(p0, new(big.Int).Mul(&a, p1))
		q0.Add(q0, new(big.Int).Mul(&a, q1))
		p0, p1, q0, q1 = p1, p0, q1, q0
		if g, _ := new(big.Rat).SetFrac(p1, q1).Float64(); g == f {
			return p1, q1
		}
		n, d = d, new(big.Int).Set(&r)
	}
	return p1, q1
}
