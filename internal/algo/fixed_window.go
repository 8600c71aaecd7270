package algo

// windowStart returns the start of the window of length period holding now:
// windows are aligned to multiples of the period since the Unix epoch.
func windowStart(now, period int64) int64 { return now - now%period }

// stepFixedWindow counts units in windows aligned to multiples of the period
// since the Unix epoch. The state is the window start (A) and its count (B).
func stepFixedWindow(p *Params, s *State, now, n int64, d *Decision) {
	t := max(now, s.A) // monotonic guard: never return to an earlier window
	ws := windowStart(t, p.P)
	count := int64(0)
	if s.A == ws {
		count = s.B
	}
	// Durations run on the clock that decides, from now, even when the
	// guard decided at a later instant.
	end := ws + p.P - now
	reset := func(c int64) int64 {
		if c > 0 {
			return end
		}
		return 0
	}
	switch {
	case n > p.R:
		*d = Decision{Remaining: p.R - count, ResetAfter: reset(count), RetryAfter: Never}
		return
	case count+n > p.R:
		*d = Decision{Remaining: p.R - count, ResetAfter: reset(count), RetryAfter: end}
		return
	}
	count += n
	if n > 0 {
		*s = State{A: ws, B: count}
	}
	*d = Decision{Allowed: true, Remaining: p.R - count, ResetAfter: reset(count)}
}
