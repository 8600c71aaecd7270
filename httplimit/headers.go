package httplimit

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/decision"
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
	// HeaderRateLimit is the current state of the binding policy, per
	// draft-ietf-httpapi-ratelimit-headers-10: remaining units r and
	// seconds t until additional quota is made available, which is when
	// the request can pass after a denial, and after an allowed request
	// when more than r units are there (see DeltaSeconds):
	// "default";r=50;t=30.
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
// member per policy: "burst";q=100;w=60, "daily";q=1000;w=86400. It is
// decision.FormatPolicies, which other transports (gRPC metadata) share.
func FormatPolicies(ps []Policy) string { return decision.FormatPolicies(ps) }

// FormatRateLimit returns the RateLimit field value for policy p in state
// r, the limiter's answer under p.Limit: "default";r=50;t=30, without t when
// the request can never pass. It is decision.FormatRateLimit.
func FormatRateLimit(p Policy, r smartlimit.Result) string { return decision.FormatRateLimit(p, r) }

// DeltaSeconds returns RateLimit's t for r, the limiter's answer under l,
// as draft-ietf-httpapi-ratelimit-headers-10 defines it: the seconds until
// additional quota is made available, rounded up, and false when the
// request can never pass. It is decision.DeltaSeconds, which documents how
// exact t is for each algorithm.
func DeltaSeconds(l smartlimit.Limit, r smartlimit.Result) (int64, bool) {
	return decision.DeltaSeconds(l, r)
}
