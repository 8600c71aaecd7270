package smartlimittest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// exampleTB stands in for the *testing.T a real test passes to New.
type exampleTB struct{ cleanups []func() }

func (t *exampleTB) Helper()                        {}
func (t *exampleTB) Cleanup(f func())               { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// A test moves the server's clock instead of sleeping: TIME inside the
// scripts and key expiry both follow it.
func Example() {
	t := &exampleTB{}
	defer func() {
		for _, f := range t.cleanups {
			f()
		}
	}()
	s := smartlimittest.New(t)
	ctx := context.Background()
	limit := smartlimit.PerMinute(1)

	r, _ := s.Client.Allow(ctx, "alice", limit)
	fmt.Println(r.Allowed)
	r, _ = s.Client.Allow(ctx, "alice", limit)
	fmt.Println(r.Allowed, r.RetryAfter)

	s.Advance(time.Minute)
	r, _ = s.Client.Allow(ctx, "alice", limit)
	fmt.Println(r.Allowed)
	// Output:
	// true
	// false 1m0s
	// true
}

func TestAdvanceExpiresKeys(t *testing.T) {
	s := smartlimittest.New(t)
	if _, err := s.Client.Allow(context.Background(), "k", smartlimit.PerSecond(1)); err != nil {
		t.Fatal(err)
	}
	if got := len(s.Miniredis.Keys()); got != 1 {
		t.Fatalf("%d keys after a check, want 1", got)
	}
	s.Advance(time.Second)
	if got := len(s.Miniredis.Keys()); got != 0 {
		t.Errorf("%d keys a second later, want 0: the key's TTL follows the clock", got)
	}
	if !s.Now().Equal(smartlimittest.T0.Add(time.Second)) {
		t.Errorf("Now() = %v", s.Now())
	}
}
