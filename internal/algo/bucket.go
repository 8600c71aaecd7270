package algo

// ahead returns the backlog of a bucket whose theoretical arrival time is
// the instant (us + frac/R): how far, in ticks, that instant lies after now,
// clamped to [0, Cap]. over reports whether it was clamped from above: a
// clock behind the stored state puts the TAT more than the whole capacity
// ahead, which makes the limit stricter, never looser (the monotonic guard
// of the bucket kinds). The scripts compute the same values.
func ahead(p *Params, us, frac, now int64) (d int64, over bool) {
	dd := us - now
	if dd < 0 || (dd == 0 && frac <= 0) {
		return 0, false
	}
	if dd > p.Cap/p.R { // dd*R exceeds Cap; skip the product
		return p.Cap, true
	}
	if d = dd*p.R + frac; d > p.Cap {
		return p.Cap, true
	}
	return d, false
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

// decideBucket decides a request of cost n at now against a bucket whose
// TAT is the instant (us + frac/R), writing the decision to *dec and
// returning the backlog after it. When the TAT lies more than the capacity
// ahead (a clock behind the state), the decision is taken on the clamped
// backlog, but ResetAfter and RetryAfter are measured from now to the real
// TAT: the earliest time the same request passes on this clock.
func decideBucket(p *Params, us, frac, now, n int64, dec *Decision) int64 {
	d, over := ahead(p, us, frac, now)
	nd := bucket(p, d, n, dec)
	if over {
		// The TAT is (us-now)*R + frac ticks ahead; frac < R, so the time
		// until full is us-now, plus 1 µs for a fraction.
		dec.ResetAfter = us - now + ceilDiv(frac, p.R)
		if dec.RetryAfter != Never && !dec.Allowed {
			// ⌈(dd·R + frac + n·P − Cap) / R⌉ with dd·R split off exactly.
			dec.RetryAfter = us - now + ceilDivSigned(frac+n*p.P-p.Cap, p.R)
		}
	}
	return nd
}
