package failover_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/memfallback"
)

// The coordinator's overhead is the difference between BenchmarkCoordinator
// and BenchmarkMemory: a deadline (context.WithTimeout) and a breaker
// record per check, on top of a healthy in-memory tier.

func benchMem(b *testing.B) *memfallback.Store {
	mem, err := memfallback.New(memfallback.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mem.Close() })
	return mem
}

func benchCoordinator(b *testing.B, mem smartlimit.Limiter, timeout time.Duration) *failover.Coordinator {
	c, err := failover.New([]failover.Tier{{Name: smartlimit.TierMemory, Limiter: mem, Timeout: timeout}}, failover.Options{HealthInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// huge is a limit a benchmark rarely exhausts (a denial costs the same).
var huge = smartlimit.PerSecond(1_000_000)

func run(b *testing.B, lim smartlimit.Limiter) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lim.AllowN(ctx, "warm", huge, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func runParallel(b *testing.B, lim smartlimit.Limiter) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.AllowN(ctx, "warm", huge, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Coordinator uses the default deadline, CoordinatorNoDeadline a negative
// Tier.Timeout (no deadline: what an in-process tier needs).
func BenchmarkMemory(b *testing.B)      { run(b, benchMem(b)) }
func BenchmarkCoordinator(b *testing.B) { run(b, benchCoordinator(b, benchMem(b), 0)) }
func BenchmarkCoordinatorNoDeadline(b *testing.B) {
	run(b, benchCoordinator(b, benchMem(b), -1))
}

func BenchmarkMemoryParallel(b *testing.B) { runParallel(b, benchMem(b)) }
func BenchmarkCoordinatorParallel(b *testing.B) {
	runParallel(b, benchCoordinator(b, benchMem(b), 0))
}
func BenchmarkCoordinatorNoDeadlineParallel(b *testing.B) {
	runParallel(b, benchCoordinator(b, benchMem(b), -1))
}
