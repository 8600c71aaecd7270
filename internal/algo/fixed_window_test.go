package algo

import "testing"

// Windows are aligned to the epoch; a clock behind the state's window is
// decided in that window, its durations measured from the clock.
func TestFixedWindow(t *testing.T) {
	p, _ := NewParams(FixedWindow, 3, 1e6, 0)
	var s State
	check := func(at, n int64, want Decision) {
		t.Helper()
		var d Decision
		Step(&p, &s, at, n, &d)
		if d != want {
			t.Errorf("at %d cost %d: %+v, want %+v", at, n, d, want)
		}
	}
	const w = 1_893_456_000_000_000 // a window start
	check(w+250_000, 3, Decision{Allowed: true, Remaining: 0, ResetAfter: 750_000})
	check(w-100_000, 1, Decision{Remaining: 0, ResetAfter: 1_100_000, RetryAfter: 1_100_000})
	check(w+1e6, 1, Decision{Allowed: true, Remaining: 2, ResetAfter: 1e6})
	check(w+1e6, 4, Decision{Remaining: 2, ResetAfter: 1e6, RetryAfter: Never})
}
