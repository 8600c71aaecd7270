package algo

// stepTokenBucket is the token bucket: the state is the number of ticks
// missing from a full bucket (A) as of the last update (B). It refills R
// ticks per microsecond, so the bucket is full at the instant B + A/R: its
// TAT. Deciding on that TAT, as GCRA does, makes its decisions exactly
// GCRA's, also when the clock runs backwards.
func stepTokenBucket(p *Params, s *State, now, n int64, dec *Decision) {
	nd := decideBucket(p, s.B+s.A/p.R, s.A%p.R, now, n, dec)
	if dec.Allowed && n > 0 {
		*s = State{A: nd, B: now}
	}
}
