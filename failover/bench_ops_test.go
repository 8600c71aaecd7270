package failover_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// The operations other than AllowN, each on a memory tier without a
// deadline, so that what the Coordinator adds (its allocations above all)
// is the difference from the same call on the Store.

func BenchmarkOps(b *testing.B) {
	ctx := context.Background()
	reqs := []smartlimit.Request{{Key: "a", Limit: huge, Cost: 1}, {Key: "b", Limit: huge, Cost: 1}}
	limits := []smartlimit.Limit{huge, smartlimit.PerMinute(1_000_000)}
	conc := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1_000, Period: time.Minute}
	type ops interface {
		smartlimit.Limiter
		smartlimit.Peeker
		smartlimit.MultiLimiter
		smartlimit.MultiResultLimiter
		smartlimit.Leaser
	}
	for _, lim := range []struct {
		name string
		new  func(b *testing.B) ops
	}{
		{"Memory", func(b *testing.B) ops { return benchMem(b) }},
		{"Coordinator", func(b *testing.B) ops { return benchCoordinator(b, benchMem(b), -1) }},
	} {
		for _, op := range []struct {
			name string
			call func(l ops) error
		}{
			{"Peek", func(l ops) error { _, err := l.Peek(ctx, "warm", huge); return err }},
			{"AllowMany", func(l ops) error { _, err := l.AllowMany(ctx, reqs); return err }},
			{"AllowAll", func(l ops) error { _, err := l.AllowAll(ctx, "warm", 1, limits...); return err }},
			{"AllowAllResults", func(l ops) error { _, err := l.AllowAllResults(ctx, "warm", 1, limits...); return err }},
			{"Acquire", func(l ops) error {
				ls, _, err := l.Acquire(ctx, "warm", conc)
				if err == nil && ls != nil {
					err = ls.Release(ctx)
				}
				return err
			}},
		} {
			b.Run(op.name+"/"+lim.name, func(b *testing.B) {
				l := lim.new(b)
				b.ReportAllocs()
				for b.Loop() {
					if err := op.call(l); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
