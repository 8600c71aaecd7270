package smartlimit_test

import (
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

func TestBindingAndCombine(t *testing.T) {
	allowed := []smartlimit.Result{
		{Allowed: true, Limit: 10, Remaining: 4, ResetAfter: time.Second},
		{Allowed: true, Limit: 1000, Remaining: 2, ResetAfter: time.Hour, Delay: time.Millisecond},
	}
	if got := smartlimit.Binding(allowed); got != 1 {
		t.Errorf("Binding(allowed) = %d, want 1: the least Remaining", got)
	}
	want := smartlimit.Result{Allowed: true, Limit: 1000, Remaining: 2, ResetAfter: time.Hour, Delay: time.Millisecond}
	if got := smartlimit.Combine(allowed); got != want {
		t.Errorf("Combine(allowed) = %+v, want %+v", got, want)
	}

	denied := []smartlimit.Result{
		{Limit: 10, Remaining: 3, ResetAfter: time.Second},                             // would pass alone: no retry
		{Limit: 5, Remaining: 0, RetryAfter: 2 * time.Second, ResetAfter: time.Minute}, // denies
		{Limit: 7, Remaining: 0, RetryAfter: time.Second, ResetAfter: time.Hour},       // denies sooner
	}
	if got := smartlimit.Binding(denied); got != 1 {
		t.Errorf("Binding(denied) = %d, want 1: the longest RetryAfter", got)
	}
	want = smartlimit.Result{Limit: 5, Remaining: 0, RetryAfter: 2 * time.Second, ResetAfter: time.Hour}
	if got := smartlimit.Combine(denied); got != want {
		t.Errorf("Combine(denied) = %+v, want %+v", got, want)
	}
	if got := smartlimit.Combine(nil); got != (smartlimit.Result{}) || smartlimit.Binding(nil) != 0 {
		t.Errorf("Combine(nil) = %+v, Binding(nil) = %d", got, smartlimit.Binding(nil))
	}
}
