package bench

// Side by side with go-redis/redis_rate, the most used Redis GCRA for Go, on
// one redis-server that the benchmark starts: throughput from 64
// goroutines, and Redis' own CPU per check from INFO commandstats.
//
//	go test -run '^$' -bench 'RedisRate|Smartlimit' -benchmem

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

var ctx = context.Background()

func startRedis(b *testing.B) (addr string, rc rueidis.Client) {
	srv := redistest.Start(b)
	rc = srv.Client(b)
	if err := rc.Do(ctx, rc.B().ConfigResetstat().Build()).Error(); err != nil {
		b.Fatal(err)
	}
	return srv.Addr, rc
}

func report(b *testing.B, rc rueidis.Client) {
	usec, err := redistest.ScriptUsec(ctx, rc)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(usec/float64(b.N), "redis-µs/check")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// benchParallel runs check from 64 goroutines (32 per core on 2 cores)
// over 1000 keys, then reports Redis' CPU per check.
func benchParallel(b *testing.B, rc rueidis.Client, check func(key string) error) {
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := check("user" + strconv.Itoa(i%1000)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	report(b, rc)
}

func BenchmarkRedisRateParallel(b *testing.B) {
	addr, rc := startRedis(b)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 64})
	defer rdb.Close()
	lim := redis_rate.NewLimiter(rdb)
	limit := redis_rate.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1_000_000_000}
	benchParallel(b, rc, func(key string) error { _, err := lim.Allow(ctx, key, limit); return err })
}

func benchSmartlimit(b *testing.B, opts ...smartlimit.Option) {
	_, rc := startRedis(b)
	lim, err := smartlimit.New(rc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	limit := smartlimit.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1_000_000_000}
	benchParallel(b, rc, func(key string) error { _, err := lim.Allow(ctx, key, limit); return err })
}

// BenchmarkSmartlimitParallel: the Client as New makes it for a standalone
// Redis, which coalesces concurrent checks.
func BenchmarkSmartlimitParallel(b *testing.B) { benchSmartlimit(b) }

// BenchmarkSmartlimitParallelUncoalesced: one script call per check, as
// redis_rate makes.
func BenchmarkSmartlimitParallelUncoalesced(b *testing.B) {
	benchSmartlimit(b, smartlimit.WithoutCoalescing())
}

// TestRemainingExactVersusRedisRate records, on real Redis, what each
// limiter reports after one request at rates whose emission interval is not
// a whole number of microseconds. smartlimit must be exact; redis_rate's
// float arithmetic is logged for the comparison, not asserted.
func TestRemainingExactVersusRedisRate(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer rdb.Close()
	peer := redis_rate.NewLimiter(rdb)
	lim, err := smartlimit.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []int{6, 7, 10, 13} {
		key := "k" + strconv.Itoa(rate)
		theirs, err := peer.Allow(ctx, key, redis_rate.PerSecond(rate))
		if err != nil {
			t.Fatal(err)
		}
		ours, err := lim.Allow(ctx, key, smartlimit.PerSecond(int64(rate)))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d/s after one request: smartlimit Remaining %d, redis_rate Remaining %d", rate, ours.Remaining, theirs.Remaining)
		if ours.Remaining != int64(rate-1) {
			t.Errorf("%d/s: smartlimit Remaining %d after one request, want %d", rate, ours.Remaining, rate-1)
		}
	}
}
