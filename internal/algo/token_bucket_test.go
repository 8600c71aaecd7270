package algo

import (
	"math/rand/v2"
	"testing"
)

// The token bucket stores tokens and a time, GCRA a TAT, and they decide
// alike on every step, the clock stepping back included.
func TestTokenBucketDecidesAsGCRA(t *testing.T) {
	for _, c := range []struct{ rate, period, burst int64 }{{10, 1e6, 3}, {6, 1e6, 0}, {7, 1e6, 2}, {1000, 7e6, 50}, {1 << 30, 1e6, 0}} {
		pg, err := NewParams(GCRA, c.rate, c.period, c.burst)
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := NewParams(TokenBucket, c.rate, c.period, c.burst)
		for seed := range uint64(20) {
			r := rand.New(rand.NewPCG(seed, 7))
			var sg, st State
			now := int64(1_893_456_000_000_000)
			for i := range 500 {
				if r.IntN(5) == 0 {
					now -= r.Int64N(c.period)
				} else {
					now += r.Int64N(c.period / 4)
				}
				n := r.Int64N(pg.Burst + 2)
				var dg, dt Decision
				Step(&pg, &sg, now, n, &dg)
				Step(&pt, &st, now, n, &dt)
				if dg != dt {
					t.Fatalf("%v seed %d step %d at %d cost %d: gcra %+v, token bucket %+v", c, seed, i, now, n, dg, dt)
				}
			}
		}
	}
}
