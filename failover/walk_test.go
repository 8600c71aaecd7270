package failover_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/memfallback"
)

// TestAllowManyPerRequestItemsTwoTiers checks that a batch split by one
// tier's per-request failures can be split again by the next: each tier
// is asked only about the items still undecided, each decision stays with
// the item it belongs to, and what no tier decides goes to the policy
// (FailOpen answering as FailClosed, as for any request a tier could not
// decide).
func TestAllowManyPerRequestItemsTwoTiers(t *testing.T) {
	ctx := context.Background()
	reqs := make([]smartlimit.Request, 5)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "k" + strconv.Itoa(i), Limit: smartlimit.PerHour(10), Cost: 1}
	}
	// Each perRequestTier decides the even items of what it is asked and
	// fails the odd ones: the first gets items 0-4 and decides 0, 2 and 4;
	// the second gets 1 and 3 and decides 1; item 3 is left.
	decided := smartlimit.Result{Allowed: true, Remaining: 7}
	for _, last := range []string{smartlimit.TierMemory, smartlimit.TierFailClosed} {
		t.Run(last, func(t *testing.T) {
			tiers := []failover.Tier{
				{Name: "first", Limiter: &perRequestTier{err: memfallback.ErrFull}, Timeout: -1},
				{Name: "second", Limiter: &perRequestTier{err: memfallback.ErrFull}, Timeout: -1},
			}
			want3 := smartlimit.Result{Limit: 10, RetryAfter: failover.DefaultRetryAfter, ResetAfter: failover.DefaultRetryAfter, Tier: smartlimit.TierFailClosed}
			wantFallbacks := 1
			if last == smartlimit.TierMemory {
				mem, err := memfallback.New(memfallback.Options{SweepInterval: -1, Clock: func() time.Time { return time.Unix(1e9, 0) }})
				if err != nil {
					t.Fatal(err)
				}
				defer mem.Close()
				tiers = append(tiers, failover.Tier{Name: smartlimit.TierMemory, Limiter: mem, Timeout: -1})
				want3 = smartlimit.Result{Allowed: true, Limit: 10, Remaining: 9, ResetAfter: 6 * time.Minute, Tier: smartlimit.TierMemory}
				wantFallbacks = 0
			}
			var fallbacks []failover.Attempt
			c, err := failover.New(tiers, failover.Options{
				HealthInterval: -1,
				Policy:         func(string, smartlimit.Limit) failover.Policy { return failover.FailOpen },
				Hook: failover.Hook{Attempt: func(_ context.Context, a failover.Attempt) {
					if a.Fallback {
						fallbacks = append(fallbacks, a)
					}
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rs, err := c.AllowMany(ctx, reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []smartlimit.Result{decided, decided, decided, want3, decided} {
				switch i {
				case 0, 2, 4:
					want.Tier = "first"
				case 1:
					want.Tier = "second"
				}
				if rs[i] != want {
					t.Errorf("item %d: %+v, want %+v", i, rs[i], want)
				}
			}
			for i, tr := range tiers[:2] {
				if n, want := tr.Limiter.(*perRequestTier).calls, 1; n != want {
					t.Errorf("tier %d asked %d times, want %d", i, n, want)
				}
			}
			if len(fallbacks) != wantFallbacks || wantFallbacks > 0 && fallbacks[0].Tier != smartlimit.TierFailClosed {
				t.Errorf("fallback attempts %+v, want %d by %s", fallbacks, wantFallbacks, smartlimit.TierFailClosed)
			}
		})
	}
}

// TestWalkDoesNotAllocate checks that the walk over the tiers adds no
// allocation to a check on a tier without a deadline: its closures must
// stay on the caller's stack (see operation in coordinator.go). Each check
// through the Coordinator allocates what the same check on the tier does.
func TestWalkDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	mem, err := memfallback.New(memfallback.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	c, err := failover.New([]failover.Tier{{Name: smartlimit.TierMemory, Limiter: mem, Timeout: -1}}, failover.Options{HealthInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := smartlimit.PerSecond(1_000_000)
	limits := []smartlimit.Limit{l, smartlimit.PerMinute(1_000_000)}
	reqs := []smartlimit.Request{{Key: "a", Limit: l, Cost: 1}, {Key: "b", Limit: l, Cost: 1}}
	type checker interface {
		smartlimit.Limiter
		smartlimit.Peeker
		smartlimit.MultiLimiter
		smartlimit.MultiResultLimiter
	}
	for _, check := range []struct {
		name string
		call func(checker)
	}{
		{"AllowN", func(lim checker) { lim.AllowN(ctx, "warm", l, 1) }},
		{"Peek", func(lim checker) { lim.Peek(ctx, "warm", l) }},
		{"AllowMany", func(lim checker) { lim.AllowMany(ctx, reqs) }},
		{"AllowAll", func(lim checker) { lim.AllowAll(ctx, "warm", 1, limits...) }},
		{"AllowAllResults", func(lim checker) { lim.AllowAllResults(ctx, "warm", 1, limits...) }},
	} {
		check.call(c) // warm the keys
		tier := testing.AllocsPerRun(100, func() { check.call(mem) })
		coord := testing.AllocsPerRun(100, func() { check.call(c) })
		if coord != tier {
			t.Errorf("%s: %v allocations through the Coordinator, %v on the tier alone; want as many", check.name, coord, tier)
		}
	}
}
