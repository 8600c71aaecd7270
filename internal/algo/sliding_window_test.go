package algo

import (
	"math/rand/v2"
	"testing"
)

// refWindow is a sliding window by brute force: every accepted request
// kept forever, the window's units summed on every step.
type refWindow struct {
	t, n []int64
}

func (w *refWindow) step(p *Params, now, n int64) Decision {
	at := now
	if k := len(w.t); k > 0 {
		at = max(at, w.t[k-1])
	}
	var count, newest int64
	for i := range w.t {
		if w.t[i] > at-p.P {
			count += w.n[i]
			newest = w.t[i]
		}
	}
	var reset int64
	if count > 0 {
		reset = newest + p.P - now
	}
	if n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: Never}
	}
	if count+n > p.R {
		// The earliest instant the window, moving on, sheds enough.
		left := count
		for i := range w.t {
			if w.t[i] <= at-p.P {
				continue
			}
			left -= w.n[i]
			if left+n <= p.R {
				return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: w.t[i] + p.P - now}
			}
		}
	}
	if n > 0 {
		w.t, w.n = append(w.t, at), append(w.n, n)
		reset = at + p.P - now
	}
	return Decision{Allowed: true, Remaining: p.R - count - n, ResetAfter: reset}
}

// StepSlidingWindow decides exactly as the brute-force window, whatever it
// has dropped, with clocks that step back, costs up to the rate, and the
// counts wrapping at 2^52.
func TestSlidingWindowMatchesBruteForce(t *testing.T) {
	for _, c := range []struct{ rate, period int64 }{{3, 1e6}, {10, 7e6}, {1000, 1e6}, {1 << 50, 3600e6}} {
		p, err := NewParams(SlidingWindow, c.rate, c.period, 0)
		if err != nil {
			t.Fatal(err)
		}
		for seed := range uint64(20) {
			r := rand.New(rand.NewPCG(seed, uint64(c.rate)))
			var l Log
			var ref refWindow
			now := int64(1_893_456_000_000_000)
			for i := range 400 {
				switch r.IntN(6) {
				case 0: // a step back
					now -= r.Int64N(c.period / 2)
				case 1, 2:
					now += r.Int64N(c.period / 3)
				case 3:
					now += r.Int64N(2 * c.period)
				}
				n := r.Int64N(c.rate/2 + 2)
				if r.IntN(8) == 0 {
					n = c.rate + r.Int64N(2) // at the rate, and one over
				}
				got, want := StepSlidingWindow(&p, &l, now, n), ref.step(&p, now, n)
				if got != want {
					t.Fatalf("%d/%dµs seed %d step %d at %d cost %d: got %+v, want %+v", c.rate, c.period, seed, i, now, n, got, want)
				}
			}
		}
	}
}

// A step that is taken back (memfallback undoes a peek's or an
// all-or-nothing check's step by dropping the entry it appended) drops
// nothing a later step needs, also one whose clock is behind.
func TestSlidingWindowUndoneStep(t *testing.T) {
	p, _ := NewParams(SlidingWindow, 3, 1e6, 0)
	var l Log
	StepSlidingWindow(&p, &l, 0, 1)
	StepSlidingWindow(&p, &l, 500_000, 2)
	if d := StepSlidingWindow(&p, &l, 1_600_000, 1); !d.Allowed {
		t.Fatalf("peek at 1.6 s: %+v", d)
	}
	l.E = l.E[:len(l.E)-1] // taken back
	// At 1.2 s the units of 0.5 s are in the window (0.2s, 1.2s].
	if d := StepSlidingWindow(&p, &l, 1_200_000, 2); d.Allowed || d.Remaining != 1 || d.RetryAfter != 300_000 {
		t.Errorf("at 1.2 s after the undone step: %+v, want denied, Remaining 1, RetryAfter 300ms", d)
	}
}
