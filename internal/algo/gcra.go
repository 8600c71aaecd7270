package algo

// stepGCRA is GCRA (and the leaky bucket, its shaping twin): the state is the
// theoretical arrival time TAT as whole microseconds A plus B ticks.
func stepGCRA(p *Params, s *State, now, n int64, dec *Decision) {
	nd := decideBucket(p, s.A, s.B, now, n, dec)
	if dec.Allowed && n > 0 {
		*s = State{A: now + nd/p.R, B: nd % p.R}
	}
}
