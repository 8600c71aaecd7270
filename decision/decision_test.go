package decision_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/decision"
	"github.com/smartlimit/smartlimit/memfallback"
)

// fake answers every AllowN with res and err, and counts the calls.
type fake struct {
	res   smartlimit.Result
	err   error
	calls int
}

func (f *fake) AllowN(context.Context, string, smartlimit.Limit, int64) (smartlimit.Result, error) {
	f.calls++
	return f.res, f.err
}

func newDecider(t *testing.T, lim decision.Limiter, mode decision.Mode, onError decision.ErrorPolicy) *decision.Decider {
	t.Helper()
	dc, err := decision.NewDecider(lim, mode, onError)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func TestNewDeciderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lim     decision.Limiter
		mode    decision.Mode
		onError decision.ErrorPolicy
	}{
		{nil, decision.Block, decision.FailClosed},
		{&fake{}, decision.AnnotateOnly + 1, decision.FailClosed},
		{&fake{}, decision.Block, decision.FailOpen + 1},
	} {
		if _, err := decision.NewDecider(tc.lim, tc.mode, tc.onError); err == nil {
			t.Errorf("NewDecider(%v, %d, %d) succeeded, want an error", tc.lim, tc.mode, tc.onError)
		}
	}
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	dc := newDecider(t, &fake{}, decision.Block, decision.FailClosed)
	ps := []decision.Policy{{Limit: smartlimit.PerMinute(5)}}
	s, err := dc.Policies(ps)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Name != "" {
		t.Errorf("Policies wrote the caller's slice: %+v", ps)
	}
	if got, want := s.Policies[0].Name, decision.DefaultPolicyName; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	if len(s.Limits) != 1 || s.Limits[0] != ps[0].Limit || s.Header != `"default";q=5;w=60` {
		t.Errorf("Set = %+v", s)
	}
	named := []decision.Policy{{Name: "a", Limit: smartlimit.PerMinute(5)}}
	if s, _ := dc.Policies(named); &s.Policies[0] != &named[0] {
		t.Error("Policies copied a slice it did not change")
	}
	for _, bad := range [][]decision.Policy{
		{{Name: "é", Limit: smartlimit.PerMinute(5)}},
		{{Name: "a", Limit: smartlimit.Limit{Rate: -1, Period: time.Second}}},
		// The fake is no MultiLimiter.
		{{Name: "a", Limit: smartlimit.PerMinute(5)}, {Name: "b", Limit: smartlimit.PerHour(50)}},
	} {
		if _, err := dc.Policies(bad); err == nil {
			t.Errorf("Policies(%+v) succeeded, want an error", bad)
		}
	}
}

// The error policy applies to limiter failures only: invalid input and a
// request whose context is done never fail open.
func TestDecideErrors(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	invalid := &smartlimit.InputError{Field: "key", Value: "", Reason: "empty"}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		err      error
		onError  decision.ErrorPolicy
		want     error // nil: passed open
		wantOpen bool
	}{
		{"closed", context.Background(), down, decision.FailClosed, decision.ErrUnavailable, false},
		{"open", context.Background(), down, decision.FailOpen, nil, true},
		{"open, invalid input", context.Background(), invalid, decision.FailOpen, invalid, false},
		{"open, request done", done, context.Canceled, decision.FailOpen, decision.ErrRequestDone, false},
	} {
		dc := newDecider(t, &fake{err: tc.err}, decision.Block, tc.onError)
		s, err := dc.Policies([]decision.Policy{{Limit: smartlimit.PerMinute(5)}})
		if err != nil {
			t.Fatal(err)
		}
		d := &decision.Decision{Key: "k", Cost: 1}
		_, err = dc.Decide(tc.ctx, d, s)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: Decide = %v, want nil", tc.name, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: Decide = %v, want an error matching %v", tc.name, err, tc.want)
		}
		if open := d.Err != nil; open != tc.wantOpen {
			t.Errorf("%s: Decision.Err = %v, want passed open %v", tc.name, d.Err, tc.wantOpen)
		}
		if tc.wantOpen && (!d.Result.Allowed || d.Result.Tier != smartlimit.TierFailOpen || dc.Denies(d)) {
			t.Errorf("%s: fail-open Result = %+v", tc.name, d.Result)
		}
	}
	if err := decision.LimiterError(done, down); !errors.Is(err, context.Canceled) || errors.Is(err, decision.ErrUnavailable) {
		t.Errorf("LimiterError(done ctx) = %v: want ErrRequestDone and Canceled, not ErrUnavailable", err)
	}
}

func TestDeniesAndWait(t *testing.T) {
	t.Parallel()
	denied := &decision.Decision{Result: smartlimit.Result{Limit: 1, RetryAfter: time.Second}}
	delayed := &decision.Decision{Result: smartlimit.Result{Allowed: true, Delay: time.Hour}}
	block := newDecider(t, &fake{}, decision.Block, decision.FailClosed)
	annotate := newDecider(t, &fake{}, decision.AnnotateOnly, decision.FailClosed)
	if !block.Denies(denied) || annotate.Denies(denied) || block.Denies(delayed) {
		t.Error("Denies: want a denial in Block mode only")
	}
	if err := annotate.Wait(context.Background(), delayed); err != nil {
		t.Errorf("AnnotateOnly Wait = %v, want nil at once", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := block.Wait(ctx, delayed); !errors.Is(err, decision.ErrRequestDone) || !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a done context = %v, want ErrRequestDone and Canceled", err)
	}
}

func TestViolatedPolicies(t *testing.T) {
	t.Parallel()
	a := decision.Policy{Name: "a", Limit: smartlimit.PerSecond(1)}
	b := decision.Policy{Name: "b", Limit: smartlimit.PerHour(10)}
	ps := []decision.Policy{a, b}
	deny := smartlimit.Result{Limit: 1, RetryAfter: time.Second}
	allow := smartlimit.Result{Allowed: true, Limit: 10, Remaining: 3}
	passedAlone := smartlimit.Result{Limit: 10, Remaining: 3} // denied by another: no retry of its own
	names := func(ps []decision.Policy) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		ps      []decision.Policy
		binding decision.Policy
		r       smartlimit.Result
		rs      []smartlimit.Result
		want    string
	}{
		{ps, a, allow, nil, ""},
		{ps, a, deny, []smartlimit.Result{deny, passedAlone}, "a"},
		{ps, a, deny, []smartlimit.Result{deny, deny}, "a,b"},
		{ps, b, deny, nil, "b"},
		{ps[:1], a, deny, nil, "a"},
	} {
		if got := names(decision.ViolatedPolicies(tc.ps, tc.binding, tc.r, tc.rs)); got != tc.want {
			t.Errorf("ViolatedPolicies(%s, %s, %+v, %+v) = %q, want %q", names(tc.ps), tc.binding.Name, tc.r, tc.rs, got, tc.want)
		}
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	type other struct{}
	parent := context.WithValue(context.Background(), other{}, "v")
	c := &decision.Context{Context: parent, Decision: decision.Decision{Key: "k"}}
	if d, ok := decision.FromContext(c); !ok || d.Key != "k" {
		t.Errorf("FromContext = %+v, %v", d, ok)
	}
	if c.Value(other{}) != "v" {
		t.Error("Context hides its parent's values")
	}
	if _, ok := decision.FromContext(parent); ok {
		t.Error("FromContext found a Decision in a context without one")
	}
}

func TestComposeAndFirstKeys(t *testing.T) {
	t.Parallel()
	parts := []string{"user:a|b", "route:GET /x%"}
	got, err := decision.ComposeKeys(len(parts), func(i int) (string, error) { return parts[i], nil })
	if want := "user:a%7Cb|route:GET /x%25"; got != want || err != nil {
		t.Errorf("ComposeKeys = %q, %v; want %q", got, err, want)
	}
	absent := decision.NoKey("header X")
	other := errors.New("boom")
	keys := func(errs ...error) func(int) (string, error) {
		return func(i int) (string, error) {
			if errs[i] != nil {
				return "", errs[i]
			}
			return fmt.Sprint("k", i), nil
		}
	}
	if got, err := decision.FirstKey(2, keys(absent, nil)); got != "k1" || err != nil {
		t.Errorf("FirstKey(absent, k1) = %q, %v", got, err)
	}
	if _, err := decision.FirstKey(2, keys(other, nil)); err != other {
		t.Errorf("FirstKey(boom, k1) = %v, want boom at once", err)
	}
	if _, err := decision.FirstKey(0, nil); !errors.Is(err, decision.ErrNoKey) {
		t.Errorf("FirstKey() = %v, want ErrNoKey", err)
	}
	if got, want := decision.BearerToken("bEaReR  tok "), "tok"; got != want {
		t.Errorf("BearerToken = %q, want %q", got, want)
	}
	if got := decision.BearerToken("Basic dXNlcg=="); got != "" {
		t.Errorf("BearerToken(Basic) = %q, want none", got)
	}
}

func TestErrorLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	var e decision.ErrorLog
	for range 3 {
		e.Log(context.Background(), l, "failed", errors.New("down"), slog.String("method", "/a"))
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("%d lines within a second, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "error=down") || !strings.Contains(out, "method=/a") || !strings.Contains(out, "suppressed=0") {
		t.Errorf("line = %s", out)
	}
}

// A transport's decision path in a few lines: validate the policies once,
// then per request make a Context, decide, and translate.
func ExampleDecider() {
	lim, err := memfallback.New(memfallback.Options{
		Clock: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	dec, err := decision.NewDecider(lim, decision.Block, decision.FailClosed)
	if err != nil {
		panic(err)
	}
	set, err := dec.Policies([]decision.Policy{{Name: "api", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Minute}}})
	if err != nil {
		panic(err)
	}
	fmt.Println("RateLimit-Policy:", set.Header)
	for range 3 {
		ctx := &decision.Context{Context: context.Background(), Decision: decision.Decision{Key: decision.SafeKey("user:alice"), Cost: 1}}
		if _, err := dec.Decide(ctx, &ctx.Decision, set); err != nil {
			panic(err)
		}
		d := &ctx.Decision
		fmt.Println(dec.Denies(d), decision.FormatRateLimit(d.Policy, d.Result))
	}
	// Output:
	// RateLimit-Policy: "api";q=2;w=60
	// false "api";r=1;t=60
	// false "api";r=0;t=60
	// true "api";r=0;t=60
}
