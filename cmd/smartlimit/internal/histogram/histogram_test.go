package histogram

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsTileTheLine(t *testing.T) {
	// Every bucket starts one past where the previous one ended, and every
	// value falls in the bucket whose bounds hold it.
	var next uint64
	for i := range numBuckets {
		lo, hi := bounds(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if hi < lo {
			t.Fatalf("bucket %d: hi %d < lo %d", i, hi, lo)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if got := index(v); got != i {
				t.Fatalf("index(%d) = %d, want %d (bucket [%d, %d])", v, got, i, lo, hi)
			}
		}
		if i < numBuckets-1 && hi == math.MaxUint64 {
			t.Fatalf("bucket %d reaches MaxUint64 before the last bucket", i)
		}
		next = hi + 1
	}
	if got := index(math.MaxInt64); got >= numBuckets {
		t.Fatalf("index(MaxInt64) = %d, past the %d buckets", got, numBuckets)
	}
}

func TestResolution(t *testing.T) {
	for i := 2 * half; i < numBuckets; i++ {
		lo, hi := bounds(i)
		if width := float64(hi - lo + 1); width/float64(lo) > 1.0/half {
			t.Fatalf("bucket %d [%d, %d]: width %.0f is more than 1/%d of its start", i, lo, hi, width, half)
		}
	}
}

func TestEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Min() != 0 || h.Max() != 0 {
		t.Fatalf("empty histogram: count %d p50 %v mean %v min %v max %v", h.Count(), h.Quantile(0.5), h.Mean(), h.Min(), h.Max())
	}
}

func TestExactBelowPrecision(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got, want := h.Mean(), time.Duration(51); got != want { // 50.5 rounds half away from zero
		t.Errorf("Mean = %v, want %v", got, want)
	}
	if h.Min() != 1 || h.Max() != 100 || h.Count() != 100 {
		t.Errorf("min %v max %v count %d, want 1 100 100", h.Min(), h.Max(), h.Count())
	}
}

// TestQuantilesAgainstSort compares with the exact quantile of the sorted
// samples: the histogram may only be above it, by at most one bucket width.
func TestQuantilesAgainstSort(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var h Histogram
	samples := make([]time.Duration, 100_000)
	for i := range samples {
		// Log-normal-ish latencies from 10µs to about 1s.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5+math.Log(200e3))) + 10*time.Microsecond
		samples[i] = d
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/half {
			t.Errorf("Quantile(%v) = %v, exact %v: off by more than 1/%d", q, got, exact, half)
		}
	}
	if h.Max() != samples[len(samples)-1] || h.Min() != samples[0] {
		t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{}) // merging an empty one changes nothing
	if m != all {
		t.Fatalf("merged histogram differs from one that recorded everything: count %d/%d min %v/%v max %v/%v",
			m.Count(), all.Count(), m.Min(), all.Min(), m.Max(), all.Max())
	}
}

func TestExtremes(t *testing.T) {
	var h Histogram
	h.Record(-time.Second) // counts as 0
	h.Record(time.Duration(math.MaxInt64))
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("p50 = %v, want 0", got)
	}
	if got := h.Quantile(1); got != time.Duration(math.MaxInt64) {
		t.Errorf("p100 = %v, want MaxInt64", got)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := new(Histogram)
	if n := testing.AllocsPerRun(1000, func() { h.Record(123 * time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %v times, want 0", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	h := new(Histogram)
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * 100)
	}
}

func BenchmarkQuantile(b *testing.B) {
	h := new(Histogram)
	for i := range 100_000 {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for b.Loop() {
		h.Quantile(0.99)
	}
}
