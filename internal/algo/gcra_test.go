package algo

import "testing"

// x/time/rate's jump-backwards table (10/s, burst 3: a request at t1, then
// the clock back at t0 = t1-100ms) as GCRA decides it: the TAT stays where
// it was, so the time the clock stepped back counts as used.
func TestGCRAJumpBackwards(t *testing.T) {
	p, _ := NewParams(GCRA, 10, 1e6, 3)
	const t0, t1, t2 = 1e15, 1e15 + 100_000, 1e15 + 200_000
	var s State
	for i, st := range []struct {
		at   int64
		want bool
	}{{t1, true}, {t0, true}, {t0, false}, {t0, false}, {t0, false}, {t1, true}, {t1, false}, {t1, false}, {t2, true}, {t2, false}, {t2, false}} {
		var d Decision
		Step(&p, &s, st.at, 1, &d)
		if d.Allowed != st.want {
			t.Errorf("step %d at %d: allowed %v, want %v", i, st.at, d.Allowed, st.want)
		}
	}
}

// With the clock behind the state by more than the capacity, the decision
// is taken on the full backlog, and RetryAfter and ResetAfter run to the
// real TAT on the deciding clock.
func TestGCRAClockBehind(t *testing.T) {
	p, _ := NewParams(GCRA, 10, 1e6, 2)
	s := State{}
	var d Decision
	Step(&p, &s, 1e15, 2, &d) // TAT 1e15+200ms
	Step(&p, &s, 1e15-100_000, 1, &d)
	if d.Allowed || d.RetryAfter != 200_000 || d.ResetAfter != 300_000 {
		t.Errorf("100 ms behind: %+v, want denied, RetryAfter 200ms, ResetAfter 300ms", d)
	}
	Step(&p, &s, 1e15-100_000, 3, &d)
	if d.RetryAfter != Never {
		t.Errorf("cost above the burst: RetryAfter %d, want Never", d.RetryAfter)
	}
}
