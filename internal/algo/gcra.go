package algo

// ahead returns how far, in ticks, the instant (us + frac/R) lies after now,
// clamped to [0, Cap]. Time that runs backwards (a client clock behind the
// stored state) therefore makes a limit stricter, never looser, which is the
// monotonic guard for the bucket kinds. The scripts compute the same value.
func ahead(p *Params, us, frac, now int64) int64 {
	dd := us - now
	if dd < 0 || (dd == 0 && frac <= 0) {
		return 0
	}
	if dd > p.Cap/p.R { // dd*R would exceed Cap anyway; skip the product
		return p.Cap
	}
	return min(dd*p.R+frac, p.Cap)
}

// bucket decides a request of cost n against a bucket whose backlog is d
// ticks (0 = full), writing the decision to *dec and returning the backlog
// after it. GCRA, TokenBucket and LeakyBucket share it: they differ only in
// what they store. (The decision goes out through a pointer: returned with
// the backlog by value, it cost this hot path 20 ns.)
func bucket(p *Params, d, n int64, dec *Decision) int64 {
	if n > p.Burst {
		*dec = Decision{Remaining: (p.Cap - d) / p.P, ResetAfter: ceilDiv(d, p.R), RetryAfter: Never}
		return d
	}
	nd := d + n*p.P
	if nd > p.Cap {
		*dec = Decision{Remaining: (p.Cap - d) / p.P, ResetAfter: ceilDiv(d, p.R), RetryAfter: ceilDiv(nd-p.Cap, p.R)}
		return d
	}
	*dec = Decision{Allowed: true, Remaining: (p.Cap - nd) / p.P, ResetAfter: ceilDiv(nd, p.R)}
	if p.Kind == LeakyBucket {
		// The request waits behind the backlog that was already queued.
		dec.Delay = ceilDiv(d, p.R)
	}
	return nd
}

// stepGCRA is GCRA (and the leaky bucket, its shaping twin): the state is the
// theoretical arrival time TAT as whole microseconds A plus B ticks.
func stepGCRA(p *Params, s *State, now, n int64, dec *Decision) {
	nd := bucket(p, ahead(p, s.A, s.B, now), n, dec)
	if dec.Allowed && n > 0 {
		*s = State{A: now + nd/p.R, B: nd % p.R}
	}
}

// stepTokenBucket is the token bucket: the state is the number of ticks
// missing from a full bucket (A) as of the last update (B). It refills R
// ticks per microsecond, so its decisions are exactly GCRA's.
func stepTokenBucket(p *Params, s *State, now, n int64, dec *Decision) {
	if now < s.B {
		now = s.B // monotonic guard: never refill backwards
	}
	el := now - s.B
	d := s.A
	if el > p.Cap/p.R {
		d = 0
	} else {
		d = max(0, d-el*p.R)
	}
	nd := bucket(p, d, n, dec)
	if dec.Allowed && n > 0 {
		*s = State{A: nd, B: now}
	}
}
