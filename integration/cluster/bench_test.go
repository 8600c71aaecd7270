package cluster

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
)

// BenchmarkAllow measures single checks on the cluster from parallel
// goroutines (rueidis pipelines them per node), on keys spread over every
// node.
func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	rc := cluster.Get(b).Client(b)
	c := itest.NewClient(b, rc)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		b.Fatal(err)
	}
	l := smartlimit.PerSecond(1_000_000)
	var seq atomic.Int64
	b.SetParallelism(32) // 64 goroutines on two cores: enough to fill rueidis' pipelines
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := "bench-" + strconv.FormatInt(seq.Add(1), 10)
		for pb.Next() {
			if _, err := c.Allow(ctx, key, l); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAllowMany100 measures batches of 100 keys spread over every
// node; ns/op is per batch.
func BenchmarkAllowMany100(b *testing.B) {
	ctx := context.Background()
	rc := cluster.Get(b).Client(b)
	c := itest.NewClient(b, rc)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		b.Fatal(err)
	}
	reqs := make([]smartlimit.Request, 100)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "batch-" + strconv.Itoa(i), Limit: smartlimit.PerSecond(1_000_000), Cost: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.AllowMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
}
