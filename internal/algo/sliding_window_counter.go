package algo

// stepSlidingWindowCounter estimates a sliding window from two aligned
// window counters: the units in (now-P, now] are taken to be
// prev*(P-elapsed)/P + curr, where elapsed is the time since the current
// window began. The comparison is done multiplied out by P, in whole
// numbers, so no rounding is involved. The state is the current window start
// (A), the previous window's count (B) and the current one's (C).
func stepSlidingWindowCounter(p *Params, s *State, clock, n int64, d *Decision) {
	// Monotonic guard: decide at the state's window start when the clock is
	// behind it, but measure durations from the clock: lag µs longer.
	now := max(clock, s.A)
	lag := now - clock
	P, R := p.P, p.R
	ws := windowStart(now, P)
	var prev, curr int64
	switch s.A {
	case ws:
		prev, curr = s.B, s.C
	case ws - P:
		prev = s.C
	}
	w := P - (now - ws) // weight of the previous window, in 1/P: 1..P
	reset := func(curr int64) int64 {
		switch {
		case curr > 0:
			return ws + 2*P - clock
		case prev > 0:
			return ws + P - clock
		}
		return 0
	}
	if n > R {
		*d = Decision{Remaining: max(0, R-curr-ceilDiv(prev*w, P)), ResetAfter: reset(curr), RetryAfter: Never}
		return
	}
	if prev*w+(curr+n)*P > R*P {
		var retry int64
		if curr+n <= R {
			// Wait in this window until prev's weight has shrunk enough:
			// prev*w' <= (R-curr-n)*P. prev > 0 here, or we would be allowed.
			wmax := (R - curr - n) * P / prev
			retry = (P - wmax) - (now - ws)
		} else {
			// Wait for the next window, where prev' = curr and curr' = 0:
			// curr*(P-t) <= (R-n)*P. curr > 0 here since n <= R.
			t := max(0, P-(R-n)*P/curr)
			retry = ws + P + t - now
		}
		*d = Decision{Remaining: max(0, R-curr-ceilDiv(prev*w, P)), ResetAfter: reset(curr), RetryAfter: retry + lag}
		return
	}
	curr += n
	if n > 0 {
		*s = State{A: ws, B: prev, C: curr}
	}
	*d = Decision{Allowed: true, Remaining: R - curr - ceilDiv(prev*w, P), ResetAfter: reset(curr)}
}
