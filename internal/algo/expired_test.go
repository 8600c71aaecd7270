package algo

import (
	"math/rand/v2"
	"testing"
)

// TestExpiredDecidesAsZero checks the property that lets a store drop an
// entry (memfallback's sweep and eviction) and Redis expire a key: a state
// that Expired reports at now decides, at now and at every later instant,
// exactly as the zero State (an absent key), and stays Expired.
func TestExpiredDecidesAsZero(t *testing.T) {
	type limit struct {
		k                  Kind
		rate, period, brst int64
	}
	limits := []limit{
		{GCRA, 10, 1e6, 0}, {GCRA, 6, 1e6, 0}, {GCRA, 7, 1e6, 3}, {GCRA, 1000, 7e6, 0},
		{TokenBucket, 6, 1e6, 0}, {TokenBucket, 7, 1e6, 2},
		{LeakyBucket, 1, 1e6, 3}, {LeakyBucket, 7, 1e6, 2},
		{FixedWindow, 3, 1e6, 0}, {FixedWindow, 5, 7e6, 0},
		{SlidingWindowCounter, 10, 1e6, 0}, {SlidingWindowCounter, 7, 1e6, 0}, {SlidingWindowCounter, 1000, 7e6, 0},
	}
	const t0 = 1_893_456_000_000_000 // 2030-01-01, µs
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for _, l := range limits {
		p, err := NewParams(l.k, l.rate, l.period, l.brst)
		if err != nil {
			t.Fatal(err)
		}
		var s State
		now := int64(t0)
		for range 5000 {
			now += []int64{0, 1, r.Int64N(1000), r.Int64N(200_000), r.Int64N(3_000_000)}[r.IntN(5)]
			var d Decision
			Step(&p, &s, now, r.Int64N(p.Burst+1), &d)
			if !Expired(&p, s, now) {
				continue
			}
			checked++
			for range 4 {
				at := now + []int64{0, 1, r.Int64N(1e6), r.Int64N(1e8)}[r.IntN(4)]
				n := r.Int64N(p.Burst + 2)
				gotS, wantS := s, State{}
				var got, want Decision
				Step(&p, &gotS, at, n, &got)
				Step(&p, &wantS, at, n, &want)
				if got != want || (got.Allowed && n > 0 && gotS != wantS) {
					t.Fatalf("%v %d/%dµs burst %d: state %+v expired at %d, but at %d cost %d it decides %+v → %+v; the zero state %+v → %+v",
						l.k, l.rate, l.period, l.brst, s, now, at, n, got, gotS, want, wantS)
				}
				if !Expired(&p, s, at) {
					t.Fatalf("%v: state %+v expired at %d but not at %d", l.k, s, now, at)
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d expired states checked; the sequences are too dense", checked)
	}
}
