package failover_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/memfallback"
)

// unreachable stands in for a Redis tier that is down: every call fails.
type unreachable struct{}

var errRefused = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (unreachable) AllowN(context.Context, string, smartlimit.Limit, int64) (smartlimit.Result, error) {
	return smartlimit.Result{}, errRefused
}
func (unreachable) AllowMany(context.Context, []smartlimit.Request) ([]smartlimit.Result, error) {
	return nil, errRefused
}
func (unreachable) Reset(context.Context, string, smartlimit.Limit) error { return errRefused }

// A Coordinator over redis → memory answers from memory while Redis is
// down. memfallback's LocalShare keeps N replicas (here 4) at about the
// global limit between them.
func ExampleNew() {
	mem, _ := memfallback.New(memfallback.Options{LocalShare: 1.0 / 4})
	defer mem.Close()
	c, err := failover.New([]failover.Tier{
		{Name: smartlimit.TierRedis, Limiter: unreachable{}},
		{Name: smartlimit.TierMemory, Limiter: mem},
	}, failover.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	r, err := c.Allow(context.Background(), "alice", smartlimit.PerMinute(100))
	fmt.Println(r.Allowed, r.Limit, r.Remaining, r.Tier, err)
	// Output: true 25 24 memory <nil>
}

// When no tier can answer, each limit's policy decides: the login limit
// fails closed (the default), the API limit fails open, and one call
// overrides its limit's policy.
func ExamplePolicyByLimit() {
	login, api := smartlimit.PerMinute(5), smartlimit.PerSecond(100)
	c, err := failover.New([]failover.Tier{{Name: smartlimit.TierRedis, Limiter: unreachable{}}}, failover.Options{
		Policy: failover.PolicyByLimit(map[smartlimit.Limit]failover.Policy{api: failover.FailOpen}, failover.FailClosed),
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	r, _ := c.Allow(ctx, "alice", login)
	fmt.Println(r.Allowed, r.Tier, r.RetryAfter)
	r, _ = c.Allow(ctx, "alice", api)
	fmt.Println(r.Allowed, r.Tier)
	r, _ = c.Allow(failover.WithPolicy(ctx, failover.FailOpen), "alice", login)
	fmt.Println(r.Allowed, r.Tier)
	// Output:
	// false fail-closed 1s
	// true fail-open
	// true fail-open
}

// Health checks every tier and reports its state; five failed checks open
// the breaker of a tier before any user call finds it down.
func ExampleCoordinator_Health() {
	mem, _ := memfallback.New(memfallback.Options{})
	defer mem.Close()
	c, err := failover.New([]failover.Tier{
		{Name: smartlimit.TierRedis, Limiter: unreachable{}},
		{Name: smartlimit.TierMemory, Limiter: mem},
	}, failover.Options{HealthInterval: -1}) // Health alone checks, for the example
	if err != nil {
		panic(err)
	}
	defer c.Close()

	for range failover.DefaultFailures {
		c.Health(context.Background())
	}
	for _, h := range c.Health(context.Background()) {
		fmt.Println(h.Name, h.Up, h.Breaker, h.LastError)
	}
	// Output:
	// redis false open dial tcp 127.0.0.1:6379: connect: connection refused
	// memory true closed <nil>
}
