package decision

import (
	"math"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// The draft's examples (draft-ietf-httpapi-ratelimit-headers, "RateLimit-Policy"
// and "RateLimit" sections), reproduced from policies and results. Lists are
// serialized with ", " between members, as RFC 9651 section 4.1.1 does.
func TestDraftExamples(t *testing.T) {
	t.Parallel()
	policies := []Policy{
		{Name: "burst", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 100, Period: time.Minute}},
		{Name: "daily", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1000, Period: 24 * time.Hour}},
	}
	if got, want := FormatPolicies(policies), `"burst";q=100;w=60, "daily";q=1000;w=86400`; got != want {
		t.Errorf("RateLimit-Policy = %s, want %s", got, want)
	}
	def := Policy{Name: "default", Limit: policies[0].Limit}
	allowed := smartlimit.Result{Allowed: true, Limit: 100, Remaining: 50, ResetAfter: 30 * time.Second}
	if got, want := string(AppendRateLimit(nil, def, allowed)), `"default";r=50;t=30`; got != want {
		t.Errorf("RateLimit = %s, want %s", got, want)
	}
	denied := smartlimit.Result{Limit: 100, RetryAfter: 5 * time.Second, ResetAfter: time.Minute}
	if got, want := string(AppendRateLimit(nil, def, denied)), `"default";r=0;t=5`; got != want {
		t.Errorf("RateLimit (throttled) = %s, want %s", got, want)
	}
}

func TestPolicyItem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{"a", smartlimit.PerMinute(100)}, `"a";q=100;w=60`},
		{Policy{"a", smartlimit.Limit{Rate: 3, Period: 250 * time.Millisecond}}, `"a";q=12;w=1`},
		{Policy{"a", smartlimit.Limit{Rate: 10, Period: 1500 * time.Millisecond}}, `"a";q=20;w=3`},
		{Policy{"a", smartlimit.Limit{Rate: 10, Period: time.Second, Burst: 20}}, `"a";q=10;w=1;sl-burst=20`},
		{Policy{"a", smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 10, Period: time.Second, Burst: 20}}, `"a";q=10;w=1`},
		{Policy{"a", smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 5, Period: time.Minute}}, `"a";q=5;qu="concurrent-requests"`},
		{Policy{`we"ird\`, smartlimit.PerSecond(1)}, `"we\"ird\\";q=1;w=1`},
	} {
		if got := string(AppendPolicy(nil, tc.p)); got != tc.want {
			t.Errorf("policy %+v = %s, want %s", tc.p, got, tc.want)
		}
	}
	// A rate too large to scale saturates instead of overflowing.
	if q, w := window(math.MaxInt64/2, time.Microsecond); q != math.MaxInt64 || w != 1 {
		t.Errorf("window(huge, 1µs) = %d, %d", q, w)
	}
}

func TestCeilSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int64{
		0: 0, -time.Second: 0, time.Nanosecond: 1, time.Second: 1,
		time.Second + time.Microsecond: 2, 59500 * time.Millisecond: 60,
	} {
		if got := ceilSeconds(d); got != want {
			t.Errorf("ceilSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// DeltaSeconds is exported for transports, which may hand it a limit no
// limiter validated: it never panics.
func TestDeltaSecondsInvalidLimit(t *testing.T) {
	r := smartlimit.Result{Allowed: true, Limit: 5, Remaining: 2, ResetAfter: 3 * time.Second}
	for _, l := range []smartlimit.Limit{{Rate: 5}, {Rate: 5, Period: time.Nanosecond}, {Rate: -1, Period: time.Second}} {
		if got, ok := DeltaSeconds(l, r); !ok || got != 3 {
			t.Errorf("DeltaSeconds(%+v, %+v) = %d, %v; want ResetAfter's 3 s", l, r, got, ok)
		}
	}
}
