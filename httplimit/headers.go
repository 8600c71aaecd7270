package httplimit

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/smartlimit/smartlimit"
)

// Response header names. The middleware stores them under their canonical
// keys (http.CanonicalHeaderKey), so on the wire they read
// "Ratelimit-Policy"; header names are case-insensitive, and Header.Get
// finds them by these constants.
const (
	// HeaderRateLimitPolicy describes the policies (quota q per window w
	// seconds) of draft-ietf-httpapi-ratelimit-headers:
	// "default";q=100;w=60.
	HeaderRateLimitPolicy = "RateLimit-Policy"
	// HeaderRateLimit is the current state of the binding policy, per the
	// same draft: remaining units r and seconds t until the quota resets
	// (allowed) or until the request can pass (denied): "default";r=50;t=30.
	HeaderRateLimit = "RateLimit"
	// HeaderXRateLimitLimit is the legacy capacity header.
	HeaderXRateLimitLimit = "X-RateLimit-Limit"
	// HeaderXRateLimitRemaining is the legacy remaining header.
	HeaderXRateLimitRemaining = "X-RateLimit-Remaining"
	// HeaderXRateLimitReset is the legacy reset header: the same number of
	// seconds as RateLimit's t, or the Unix time that many seconds from now
	// (Options.ResetFormat).
	HeaderXRateLimitReset = "X-RateLimit-Reset"
	// HeaderRetryAfter is sent on 429 in delta-seconds (RFC 9110), rounded
	// up so that it is never earlier than RateLimit's t.
	HeaderRetryAfter = "Retry-After"
)

// ResetFormat selects how X-RateLimit-Reset is written. APIs disagree; pick
// what your clients expect.
type ResetFormat uint8

const (
	// ResetSeconds writes delta seconds, rounded up: "30". It is the
	// default and immune to clock skew between server and client.
	ResetSeconds ResetFormat = iota
	// ResetUnix writes the Unix time in seconds, rounded up: "1893456030"
	// (as GitHub and ulule/limiter do).
	ResetUnix
)

// Problem type URIs of draft-ietf-httpapi-ratelimit-headers and RFC 9457.
const (
	ProblemQuotaExceeded = "https://iana.org/assignments/http-problem-types#quota-exceeded"
	ProblemBlank         = "about:blank"
)

// Problem is an RFC 9457 problem details object, as the middleware writes
// it in application/problem+json.
type Problem struct {
	Type             string   `json:"type"`
	Title            string   `json:"title"`
	Status           int      `json:"status"`
	Detail           string   `json:"detail,omitempty"`
	ViolatedPolicies []string `json:"violated-policies,omitempty"`
}

// WriteProblem writes p as an application/problem+json response with
// status p.Status. Use it in a DeniedHandler or ErrorHandler of your own to
// keep the default's shape.
func WriteProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for this struct; keep the status anyway
		body = []byte("{}")
	}
	writeProblem(w, p.Status, append(body, '\n'))
}

// writeProblem writes a problem+json body with status code. The two header
// values share one backing array.
func writeProblem(w http.ResponseWriter, code int, body []byte) {
	vals := [...]string{"application/problem+json", "nosniff"}
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h["X-Content-Type-Options"] = vals[1:2:2]
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// deniedHead is the default 429 body up to its optional members, as
// json.Marshal writes a Problem.
const deniedHead = `{"type":"` + ProblemQuotaExceeded + `","title":"Too Many Requests","status":429`

// appendDenied appends the default 429 body: WriteProblem's output for a
// quota-exceeded Problem naming the violated policies, built without
// reflection because a flood of denials is exactly when this path must be
// cheap. Policy names are printable ASCII, where Go quoting and JSON quoting
// agree.
func appendDenied(b []byte, violated []Policy, never bool) []byte {
	b = append(b, deniedHead...)
	if never {
		b = append(b, `,"detail":"the request costs more than the policy's capacity and can never pass"`...)
	}
	b = append(b, `,"violated-policies":[`...)
	for i, p := range violated {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, p.Name)
	}
	return append(b, "]}\n"...)
}

// FormatPolicies returns the RateLimit-Policy field value for ps, one list
// member per policy: "burst";q=100;w=60, "daily";q=1000;w=86400. Names must
// be printable ASCII, as New requires. Other transports (gRPC metadata) use
// it to announce the same policies.
func FormatPolicies(ps []Policy) string { return policyHeader(ps) }

// FormatRateLimit returns the RateLimit field value for the policy named
// name in state r: "default";r=50;t=30, without t when the request can never
// pass.
func FormatRateLimit(name string, r smartlimit.Result) string {
	return string(appendStateItem(nil, name, r))
}

// DeltaSeconds returns RateLimit's t for r, which is also the Retry-After
// of a denial: the whole seconds, rounded up, until the request can pass
// when denied, or until the quota is full again when allowed. It reports
// false when the request can never pass.
func DeltaSeconds(r smartlimit.Result) (int64, bool) { return resetSeconds(r) }

// ceilSeconds returns d in whole seconds, rounded up: headers must never
// announce a time earlier than the limiter's.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// policyItem formats one RateLimit-Policy list member for p:
// "NAME";q=Q;w=W. Windows are whole seconds in the draft, so a limit whose
// Period is not a whole number of seconds is scaled to the shortest whole
// window: 3 per 250ms is q=12;w=1. Bucket limits whose burst differs from
// their rate add the vendor parameter sl-burst. A Concurrency limit is
// q=N;qu="concurrent-requests" without a window.
func appendPolicyItem(b []byte, p Policy) []byte {
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

// appendStateItem formats one RateLimit list member: "NAME";r=R;t=T, with
// t omitted when the request can never pass.
func appendStateItem(b []byte, name string, r smartlimit.Result) []byte {
	b = strconv.AppendQuote(b, name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(r.Remaining, 0), 10)
	if t, ok := resetSeconds(r); ok {
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, t, 10)
	}
	return b
}

// resetSeconds is RateLimit's t: the seconds until the request can pass
// when denied, until the quota is full again when allowed; false when it
// can never pass.
func resetSeconds(r smartlimit.Result) (int64, bool) {
	if r.Allowed {
		return ceilSeconds(r.ResetAfter), true
	}
	if r.RetryAfter == smartlimit.Never {
		return 0, false
	}
	return ceilSeconds(r.RetryAfter), true
}
