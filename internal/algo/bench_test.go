package algo

import "testing"

// BenchmarkStep measures one allowed step per algorithm, for a rate that
// divides the period (R = 1 after reduction, the common case) and one that
// does not (6/s: R = 3).
func BenchmarkStep(b *testing.B) {
	for _, k := range []Kind{GCRA, TokenBucket, FixedWindow, SlidingWindowCounter} {
		for _, rate := range []int64{1_000_000, 6} {
			p, err := NewParams(k, rate, 1_000_000, 1<<30)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(k.String()+"/R="+itoa(p.R), func(b *testing.B) {
				var s State
				var d Decision
				now := int64(1_900_000_000_000_000)
				for b.Loop() {
					now += 1000
					Step(&p, &s, now, 1, &d)
				}
			})
		}
	}
}

func itoa(n int64) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
