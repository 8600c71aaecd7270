// Package histogram records latencies in a log-linear histogram in the
// manner of HdrHistogram: exact below 2^precisionBits nanoseconds, and
// above that 2^(precisionBits-1) buckets per power of two, so that every
// value it reports is within 1/128 (0.8%) of a value it recorded, in fixed
// memory, from a nanosecond to the largest time.Duration.
//
// A sorted slice of samples would grow with the run; this holds 59 KiB,
// records in a few nanoseconds without allocating, and merges by addition,
// so that each goroutine of a load generator keeps its own and the results
// are summed at the end.
package histogram

import (
	"math"
	"math/bits"
	"time"
)

// precisionBits sets the resolution: values below 2^precisionBits ns are
// exact, and larger ones fall in buckets 2^-(precisionBits-1) of their
// value wide.
const precisionBits = 8

const (
	half       = 1 << (precisionBits - 1) // buckets per power of two
	numBuckets = (64 - precisionBits + 2) * half
)

// Histogram counts durations. The zero Histogram is empty and ready to
// use. A Histogram is not safe for simultaneous use: give each goroutine
// its own and Merge them.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64 // ns; float so that long runs cannot overflow
	min, max int64
}

// index returns the bucket of v ≥ 0.
func index(v uint64) int {
	l := bits.Len64(v)
	if l <= precisionBits {
		return int(v)
	}
	shift := l - precisionBits
	return shift*half + int(v>>shift)
}

// bounds returns the smallest and largest value of bucket i.
func bounds(i int) (lo, hi uint64) {
	if i < 2*half {
		return uint64(i), uint64(i)
	}
	shift := i/half - 1
	m := uint64(i - shift*half)
	lo = m << shift
	return lo, lo + 1<<shift - 1
}

// Record adds one duration. Negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[index(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every duration that o recorded to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest duration recorded, or 0.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest duration recorded, or 0.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the durations recorded, or 0.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the duration below or at which a fraction q (0 ≤ q ≤ 1)
// of the recorded durations lie: the largest value of the bucket that holds
// the sample of rank ⌈q·n⌉, as HdrHistogram reports it, but never more than
// Max. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bounds(i)
			return time.Duration(min(hi, uint64(h.max)))
		}
	}
	return time.Duration(h.max) // not reached: the counts add up to n
}
