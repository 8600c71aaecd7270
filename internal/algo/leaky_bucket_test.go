package algo

import "testing"

// Capacity counts the request being served: burst 3 at 1/s gives Delays 0,
// 1 s, 2 s, then a denial.
func TestLeakyBucketDelays(t *testing.T) {
	p, _ := NewParams(LeakyBucket, 1, 1e6, 3)
	var s State
	for i, want := range []int64{0, 1e6, 2e6, -1} {
		var d Decision
		Step(&p, &s, 1e15, 1, &d)
		if want < 0 {
			if d.Allowed || d.RetryAfter != 1e6 {
				t.Errorf("request %d: %+v, want denied, RetryAfter 1s", i, d)
			}
			continue
		}
		if !d.Allowed || d.Delay != want {
			t.Errorf("request %d: %+v, want allowed with Delay %d", i, d, want)
		}
	}
}
