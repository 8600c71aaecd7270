package httplimit

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

func TestWriteProblem(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	WriteProblem(w, Problem{Type: ProblemQuotaExceeded, Title: "Too Many Requests", Status: 429, ViolatedPolicies: []string{"default"}})
	want := `{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Too Many Requests","status":429,"violated-policies":["default"]}` + "\n"
	if w.Code != 429 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("WriteProblem: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestExportedFormats(t *testing.T) {
	t.Parallel()
	l := smartlimit.PerSecond(10)
	r := smartlimit.Result{Limit: 10, RetryAfter: 1500 * time.Millisecond}
	if got, want := FormatRateLimit(Policy{Name: "x", Limit: l}, r), `"x";r=0;t=2`; got != want {
		t.Errorf("FormatRateLimit = %s, want %s", got, want)
	}
	if got, ok := DeltaSeconds(l, r); got != 2 || !ok {
		t.Errorf("DeltaSeconds = %d, %v; want 2, true", got, ok)
	}
	if _, ok := DeltaSeconds(l, smartlimit.Result{RetryAfter: smartlimit.Never}); ok {
		t.Error("DeltaSeconds(Never) reported a time")
	}
	if got, want := FormatPolicies([]Policy{{Name: "a", Limit: smartlimit.PerHour(5)}}), `"a";q=5;w=3600`; got != want {
		t.Errorf("FormatPolicies = %s, want %s", got, want)
	}
}

// The hand-built 429 body is exactly what WriteProblem writes.
func TestAppendDeniedMatchesWriteProblem(t *testing.T) {
	t.Parallel()
	for _, names := range [][]string{{"default"}, {`we"ird\ name`}, {""}, {"burst", "daily"}} {
		for _, never := range []bool{false, true} {
			p := Problem{Type: ProblemQuotaExceeded, Title: "Too Many Requests", Status: 429, ViolatedPolicies: names}
			if never {
				p.Detail = "the request costs more than the policy's capacity and can never pass"
			}
			w := httptest.NewRecorder()
			WriteProblem(w, p)
			var ps []Policy
			for _, n := range names {
				ps = append(ps, Policy{Name: n})
			}
			if got, want := string(appendDenied(nil, ps, never)), w.Body.String(); got != want {
				t.Errorf("appendDenied(%q, %v) = %s, want %s", names, never, got, want)
			}
		}
	}
}
