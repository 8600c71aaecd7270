package memfallback

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// The issue "Hold at the edges", item 4: scaling the rate by a LocalShare
// changed the reduced fraction past algo.NewParams' bounds, so these
// limits, which Redis accepts, failed every call at LocalShare 1/3.
func TestLocalShareAcceptsWhatRedisAccepts(t *testing.T) {
	for _, l := range []smartlimit.Limit{
		{Rate: 100000, Period: 720 * time.Hour},
		smartlimit.PerDay(5_000_000),
		smartlimit.PerDay(10_000_000),
	} {
		s, err := New(Options{LocalShare: 1.0 / 3, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s.Allow(t.Context(), "k", l); err != nil || !r.Allowed {
			t.Errorf("share 1/3 of %v: Allow = %+v, %v; want allowed", l, r, err)
		}
		s.Close()
	}
}

// randomLimit returns a limit that smartlimit.Limit.Validate accepts, with
// periods from 1µs to the longest a Duration holds and rates and bursts up
// to the exactness bounds, so that the sweep reaches those bounds.
func randomLimit(rng *rand.Rand) smartlimit.Limit {
	logUniform := func(max float64) int64 { return int64(math.Exp(rng.Float64() * math.Log(max))) }
	for {
		l := smartlimit.Limit{
			Algorithm: smartlimit.Algorithm(rng.IntN(7)),
			Rate:      max(1, logUniform(1<<52)),
			Period:    time.Duration(max(1, logUniform(math.MaxInt64/1000))) * time.Microsecond,
		}
		switch rng.IntN(4) {
		case 0:
			l.Burst = max(1, logUniform(1<<52))
		case 1: // round numbers, the limits people write
			l.Rate = []int64{1, 5, 10, 100, 1000, 5_000_000, 10_000_000}[rng.IntN(7)]
			l.Period = []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour, 720 * time.Hour}[rng.IntN(5)]
		}
		if l.Validate() == nil {
			return l
		}
	}
}

// appliedRate returns the capacity and the rate (units per l.Period,
// exact) that p applies for l.
func appliedRate(l smartlimit.Limit, p *algo.Params) (capacity int64, rate *big.Rat) {
	switch p.Kind {
	case algo.GCRA, algo.TokenBucket, algo.LeakyBucket:
		// A unit is P ticks of 1/R µs: R/P units per µs.
		return p.Burst, new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(p.R), big.NewInt(l.Period.Microseconds())), big.NewInt(p.P))
	}
	return p.Burst, new(big.Rat).SetInt64(p.R) // windows and leases keep the Period
}

// TestLocalShareBound checks the bound the LocalShare doc states, on a
// table of shares 1/N against a seeded sweep of every kind of valid limit:
// the limit works at the share, and N replicas together hold a capacity in
// (c-N, max(c, N)] and refill, for the bucket algorithms, at exactly the
// limit's rate when c ≥ N, otherwise at no more than it and (for periods
// up to 2^51 µs) less by under N units per Period, or at the slowest exact
// rate, one unit per 2^52 µs.
func TestLocalShareBound(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	limits := []smartlimit.Limit{
		smartlimit.PerMinute(5), // 20 replicas: 20/min before, 4x the limit
		{Rate: 100000, Period: 720 * time.Hour},
		smartlimit.PerDay(5_000_000),
		smartlimit.PerDay(10_000_000),
		{Rate: 2, Period: 1 << 53 * time.Microsecond, Burst: 1}, // the slowest rate exact arithmetic holds
	}
	for range 3000 {
		limits = append(limits, randomLimit(rng))
	}
	checked, exact, slowestN := 0, 0, 0
	worst := new(big.Rat) // the largest shortfall of N replicas' rate, in units per Period
	for _, n := range []int64{1, 2, 3, 4, 5, 7, 10, 20, 49, 100, 1000, 1 << 20} {
		s, err := New(Options{LocalShare: 1 / float64(n), SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, l := range limits {
			p, _, err := s.newParams("k", l, 1)
			if err != nil {
				t.Errorf("share 1/%d of %v: %v", n, l, err)
				continue
			}
			c := l.Burst
			if c == 0 || p.Kind > algo.TokenBucket && p.Kind != algo.LeakyBucket {
				c = l.Rate
			}
			gotC, gotR := appliedRate(l, p)
			if sum := n * gotC; sum > max(c, n) || sum <= c-n {
				t.Errorf("share 1/%d of %v: capacity %d, %d replicas hold %d, want in (%d, %d]", n, l, gotC, n, sum, c-n, max(c, n))
			}
			sum := new(big.Rat).Mul(gotR, new(big.Rat).SetInt64(n))
			rate := new(big.Rat).SetInt64(l.Rate)
			switch p.Kind {
			case algo.GCRA, algo.TokenBucket, algo.LeakyBucket:
				slowest := p.R == 1 && p.P == (algo.MaxExact/2)/p.Burst // no slower rate is exact
				if slowest && sum.Cmp(rate) > 0 {
					slowestN++
					// Above the share only where the limit's own period
					// is beyond what the tiers can slow to: at most
					// N units per 2^52 µs more than the limit's rate.
					over := new(big.Rat).Sub(sum, rate)
					perMax := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(n), big.NewInt(l.Period.Microseconds())), big.NewInt(algo.MaxExact/2))
					if over.Cmp(new(big.Rat).Add(perMax, new(big.Rat).SetInt64(1))) > 0 {
						t.Errorf("share 1/%d of %v: rate %v per period, %d replicas refill %v, more than N units per 2^52µs over the limit", n, l, gotR.FloatString(3), n, sum.FloatString(3))
					}
				}
				if sum.Cmp(rate) > 0 && !slowest {
					t.Errorf("share 1/%d of %v: rate %v per period, %d replicas refill %v, more than the limit's %d", n, l, gotR.FloatString(3), n, sum.FloatString(3), l.Rate)
				}
				if c >= n && sum.Cmp(rate) != 0 { // the doc's promise: exact at 1/N unless c < N
					t.Errorf("share 1/%d of %v: rate %v per period, %d replicas refill %v, want exactly the limit's %d", n, l, gotR.FloatString(3), n, sum.FloatString(3), l.Rate)
				}
				short := new(big.Rat).Sub(rate, sum)
				if short.Sign() == 0 {
					exact++
				} else if short.Cmp(worst) > 0 {
					worst = short
				}
				if short.Cmp(new(big.Rat).SetInt64(n)) >= 0 && l.Period <= 1<<51*time.Microsecond {
					t.Errorf("share 1/%d of %v: rate %v per period, %d replicas refill %v, %d or more units below the limit's %d", n, l, gotR.FloatString(3), n, sum.FloatString(3), n, l.Rate)
				}
			default:
				if gotC != gotR.Num().Int64() || p.P != l.Period.Microseconds() {
					t.Errorf("share 1/%d of %v: %+v, want the capacity per window of Period", n, l, *p)
				}
			}
			checked++
		}
	}
	if checked < 30000 {
		t.Fatalf("checked %d limits and shares, want at least 30000", checked)
	}
	t.Logf("%d limits and shares checked; bucket rates exact in %d, at the slowest exact rate (above the share) in %d, worst shortfall %s units per Period", checked, exact, slowestN, worst.FloatString(6))
}

// TestLocalShareAnyShare checks that every valid limit works at any share
// in (0, 1], capacity ⌊share·c⌋ but at least 1, never refilling faster
// than share × Rate (unless no slower rate is exact).
func TestLocalShareAnyShare(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	checked := 0
	for range 200 {
		share := rng.Float64()
		switch rng.IntN(4) {
		case 0:
			share = math.Exp(-rng.Float64() * 40) // down to 4e-18
		case 1:
			share = 1 - share*1e-9
		}
		if share == 0 {
			continue
		}
		s, err := New(Options{LocalShare: share, SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			l := randomLimit(rng)
			p, _, err := s.newParams("k", l, 1)
			if err != nil {
				t.Errorf("share %v of %v: %v", share, l, err)
				continue
			}
			c := l.Burst
			if c == 0 || p.Kind > algo.TokenBucket && p.Kind != algo.LeakyBucket {
				c = l.Rate
			}
			f := new(big.Rat).SetFloat64(share)
			wantC := new(big.Int).Quo(new(big.Int).Mul(big.NewInt(c), f.Num()), f.Denom()).Int64()
			gotC, gotR := appliedRate(l, p)
			// The share is taken as the simplest fraction that is the
			// same float64, so ⌊c·share⌋ may be a unit either way.
			if gotC < max(1, wantC-1) || gotC > max(1, wantC+1) {
				t.Errorf("share %v of %v: capacity %d, want ⌊%d·share⌋ = %d", share, l, gotC, c, wantC)
			}
			if p.Kind == algo.GCRA || p.Kind == algo.TokenBucket || p.Kind == algo.LeakyBucket {
				slowest := p.R == 1 && p.P == (algo.MaxExact/2)/p.Burst
				limit := new(big.Rat).Mul(f, new(big.Rat).SetInt64(l.Rate))
				limit.Mul(limit, big.NewRat(1<<50+1, 1<<50)) // float share vs its simplest fraction
				if gotR.Cmp(limit) > 0 && !slowest {
					t.Errorf("share %v of %v: rate %v per period, more than share × Rate %v", share, l, gotR.FloatString(6), limit.FloatString(6))
				}
			}
			checked++
		}
		s.Close()
	}
	if checked < 15000 {
		t.Fatalf("checked %d limits and shares, want at least 15000", checked)
	}
}

// TestLowerApprox checks lowerApprox, which picks the applied rate when
// share × Rate is not exact, against a search of every fraction under
// small bounds.
func TestLowerApprox(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	for range 2000 {
		num, den := rng.Int64N(1000), 1+rng.Int64N(1000)
		maxR, maxP := 1+rng.Int64N(60), 1+rng.Int64N(60)
		x := big.NewRat(num, den)
		best := big.NewRat(0, 1)
		for p := int64(1); p <= maxP; p++ {
			r := min(maxR, num*p/den) // the largest r with r/p ≤ x
			if f := big.NewRat(r, p); f.Cmp(best) > 0 {
				best = f
			}
		}
		r, p := lowerApprox(big.NewInt(num), big.NewInt(den), big.NewInt(maxR), big.NewInt(maxP))
		got := new(big.Rat).SetFrac(r, p)
		if got.Cmp(best) != 0 || r.Int64() > maxR || p.Int64() > maxP || got.Cmp(x) > 0 {
			t.Fatalf("lowerApprox(%d/%d, r ≤ %d, p ≤ %d) = %v/%v, want %v", num, den, maxR, maxP, r, p, best)
		}
	}
}
