package algo

import "testing"

// The previous window weighs by its overlap, compared multiplied out, and
// a clock behind the state decides at the state's window start.
func TestSlidingWindowCounter(t *testing.T) {
	p, _ := NewParams(SlidingWindowCounter, 10, 1e6, 0)
	var s State
	const w = 1_893_456_000_000_000 // a window start
	var d Decision
	Step(&p, &s, w, 10, &d)
	// In the next window, 10 at full weight: one unit back after 100 ms.
	Step(&p, &s, w+1e6, 1, &d)
	if d.Allowed || d.RetryAfter != 100_000 {
		t.Errorf("next window start: %+v, want denied, RetryAfter 100ms", d)
	}
	Step(&p, &s, w+1_100_000, 1, &d)
	if !d.Allowed || d.Remaining != 0 {
		t.Errorf("at weight 0.9: %+v, want allowed, Remaining 0", d)
	}
	// 200 ms behind the state's window start: decided there, measured here.
	Step(&p, &s, w+800_000, 1, &d)
	if d.Allowed || d.RetryAfter != 400_000 {
		t.Errorf("200 ms behind: %+v, want denied, RetryAfter 400ms (200 ms more than at the window start)", d)
	}
}
