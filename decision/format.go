package decision

import (
	"math"
	"strconv"
	"time"

	"github.com/smartlimit/smartlimit"
)

// FormatPolicies returns the RateLimit-Policy field value of
// draft-ietf-httpapi-ratelimit-headers for ps, one list member per policy:
// "burst";q=100;w=60, "daily";q=1000;w=86400. Names must be printable
// ASCII, as Decider.Policies requires. HTTP sends it as a header, gRPC as
// metadata.
func FormatPolicies(ps []Policy) string {
	var b []byte
	for i, p := range ps {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = AppendPolicy(b, p)
	}
	return string(b)
}

// FormatRateLimit returns the RateLimit field value for policy p in state
// r, the limiter's answer under p.Limit: "default";r=50;t=30, without t when
// the request can never pass. t is DeltaSeconds(p.Limit, r).
func FormatRateLimit(p Policy, r smartlimit.Result) string {
	return string(AppendRateLimit(nil, p, r))
}

// AppendPolicy appends one RateLimit-Policy list member for p to b:
// "NAME";q=Q;w=W. Windows are whole seconds in the draft, so a limit whose
// Period is not a whole number of seconds is scaled to the shortest whole
// window: 3 per 250ms is q=12;w=1. Bucket limits whose burst differs from
// their rate add the vendor parameter sl-burst. A Concurrency limit is
// q=N;qu="concurrent-requests" without a window.
func AppendPolicy(b []byte, p Policy) []byte {
	b = strconv.AppendQuote(b, p.Name)
	l := p.Limit
	if l.Algorithm == smartlimit.Concurrency {
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, l.Rate, 10)
		return append(b, `;qu="concurrent-requests"`...)
	}
	q, w := window(l.Rate, l.Period)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, q, 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, w, 10)
	if c := l.Capacity(); c != l.Rate {
		b = append(b, ";sl-burst="...)
		b = strconv.AppendInt(b, c, 10)
	}
	return b
}

// AppendRateLimit appends one RateLimit list member for policy p in state r
// to b, as FormatRateLimit formats it: "NAME";r=R;t=T, with t omitted when
// the request can never pass. It allocates nothing when b has room.
func AppendRateLimit(b []byte, p Policy, r smartlimit.Result) []byte {
	b = strconv.AppendQuote(b, p.Name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(r.Remaining, 0), 10)
	if t, ok := DeltaSeconds(p.Limit, r); ok {
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, t, 10)
	}
	return b
}

// window scales rate per period to q per w whole seconds (w ≥ 1), the
// smallest whole-second window that holds a whole number of periods.
func window(rate int64, period time.Duration) (q, w int64) {
	us := period.Microseconds()
	const sec = int64(time.Second / time.Microsecond)
	k := sec / gcd(us, sec) // periods per window
	if rate > math.MaxInt64/k {
		return math.MaxInt64, max(k*us/sec, 1)
	}
	return rate * k, k * us / sec
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// DeltaSeconds returns RateLimit's t for r, the limiter's answer under l,
// as draft-ietf-httpapi-ratelimit-headers-10 defines it: the seconds until
// additional quota is made available (revision -09 and earlier said until
// the quota resets, which for a bucket or sliding window is far later than
// the next unit). It reports false when the request can never pass (cost
// above capacity). The seconds are whole and rounded up, never earlier than
// the limiter's answer:
//
//   - denied: until the same request can pass (r.RetryAfter), which is also
//     the Retry-After of the denial;
//   - allowed: until more than r.Remaining units are available, which for
//     r=0 is until a request of cost 1 can pass. A bucket (GCRA, token
//     bucket, leaky bucket) gains a unit every Period/Rate: at 5 per 10 s,
//     after 5 requests, t is 2, not the 10 until it is full. The result
//     has no fractional state, so where Period/Rate is not a whole number
//     of microseconds t may be 1 µs late before rounding (a second late
//     only when the exact time is a whole second), and where the tier
//     applies a smaller rate than l's (memfallback's LocalShare) it is
//     later than exact, never earlier. A fixed window gains its quota when
//     it resets: exact. A sliding window counter is exact when the previous
//     window no longer counts, and otherwise sends the time at which the
//     current window's units alone would have left room, an upper bound; a
//     sliding window log and a concurrency limit send the time until the
//     key is full, the bound on when its oldest unit returns.
//
// It never panics, whatever l: a limit no limiter validated gets r's
// ResetAfter.
func DeltaSeconds(l smartlimit.Limit, r smartlimit.Result) (int64, bool) {
	if r.Allowed {
		return ceilSeconds(untilMore(l, r)), true
	}
	if r.RetryAfter == smartlimit.Never {
		return 0, false
	}
	return ceilSeconds(r.RetryAfter), true
}

// ceilSeconds returns d in whole seconds, rounded up: fields must never
// announce a time earlier than the limiter's.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// untilMore returns how long after an allowed request with result r under l
// more than r.Remaining units are available; see DeltaSeconds for how exact
// it is. It reads the capacity the tier applied from r.Limit, not l.
func untilMore(l smartlimit.Limit, r smartlimit.Result) time.Duration {
	missing := r.Limit - r.Remaining // units short of full
	us := l.Period.Microseconds()
	if missing <= 1 || l.Rate <= 0 || us <= 0 {
		return r.ResetAfter // the next unit makes it full (or it is full, or l is no limit)
	}
	switch l.Algorithm {
	case smartlimit.GCRA, smartlimit.TokenBucket, smartlimit.LeakyBucket:
		// Full at ResetAfter, one unit per Period/Rate before it: the
		// Remaining+1st unit is there as long before ResetAfter as the
		// other missing-1 units take. In µs reduced by the GCD, as the
		// engine computes; rounded down, so never early.
		g := gcd(us, l.Rate)
		per, rate := us/g, l.Rate/g
		if missing-1 > math.MaxInt64/per {
			return r.ResetAfter
		}
		return max(r.ResetAfter-time.Duration((missing-1)*per/rate)*time.Microsecond, 0)
	case smartlimit.SlidingWindowCounter:
		// ResetAfter is the current window's end plus a Period while the
		// current window counts anything. After that end the current
		// window's units, at most missing, fade over a Period: one unit's
		// worth after Period/missing.
		if r.ResetAfter <= l.Period {
			return r.ResetAfter
		}
		fade := time.Duration((us+missing-1)/missing) * time.Microsecond
		return min(r.ResetAfter, r.ResetAfter-l.Period+fade)
	}
	// FixedWindow: the quota returns at ResetAfter. SlidingWindow,
	// Concurrency: the result does not say when the oldest unit returns,
	// only when the last one does.
	return r.ResetAfter
}
