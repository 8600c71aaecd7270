package smartlimit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/redistest"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// Benchmarks on miniredis measure the client and the scripts' logic; the
// Real ones measure against a redis-server that the benchmark starts, and
// report Redis' own CPU time per check (redis-µs/check) from INFO
// commandstats, which is what caps throughput on a shared machine.
//
//	go test -run '^$' -bench . -benchmem

func BenchmarkAllowMiniredis(b *testing.B) {
	s := smartlimittest.New(b)
	l := bigLimit
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Client.Allow(ctx, "k", l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllowMany100Miniredis(b *testing.B) {
	s := smartlimittest.New(b)
	reqs := batch(100, bigLimit)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Client.AllowMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/check")
}

// bigLimit never runs out during a benchmark: 1e6/s with burst 1e9. Its
// rate divides a second, so GCRA stores a single integer, as it does for
// most real limits (10/s, 100/m, ...).
var bigLimit = smartlimit.Limit{Rate: 1e6, Period: time.Second, Burst: 1e9}

func batch(n int, l smartlimit.Limit) []smartlimit.Request {
	reqs := make([]smartlimit.Request, n)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "user" + strconv.Itoa(i), Limit: l, Cost: 1}
	}
	return reqs
}

// realRedis starts a redis-server for one benchmark and returns a client on
// it, with command stats reset.
func realRedis(b *testing.B) rueidis.Client {
	rc := redistest.Start(b).Client(b)
	if err := rc.Do(ctx, rc.B().ConfigResetstat().Build()).Error(); err != nil {
		b.Fatal(err)
	}
	return rc
}

// reportRedisCPU reports Redis' CPU µs per check: the usec that INFO
// commandstats counts for the script commands, over the checks made.
func reportRedisCPU(b *testing.B, rc rueidis.Client, checks int) {
	usec, err := redistest.ScriptUsec(ctx, rc)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(usec/float64(checks), "redis-µs/check")
	b.ReportMetric(float64(checks)/b.Elapsed().Seconds(), "checks/s")
}

// benchParallel runs check from 64 goroutines (32 per core on 2 cores) over
// 1000 keys and reports Redis' CPU per check.
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
	reportRedisCPU(b, rc, b.N)
}

// BenchmarkRealAllowParallel: Allow from many goroutines on the Client as
// New makes it for a standalone Redis, where concurrent checks share script
// calls (WithCoalescing).
func BenchmarkRealAllowParallel(b *testing.B) {
	rc := realRedis(b)
	lim, _ := smartlimit.New(rc)
	benchParallel(b, rc, func(key string) error { _, err := lim.Allow(ctx, key, bigLimit); return err })
}

// BenchmarkRealAllowParallelUncoalesced: the same with one script call per
// check; rueidis pipelines concurrent calls on one connection by itself.
func BenchmarkRealAllowParallelUncoalesced(b *testing.B) {
	rc := realRedis(b)
	lim, _ := smartlimit.New(rc, smartlimit.WithoutCoalescing())
	benchParallel(b, rc, func(key string) error { _, err := lim.Allow(ctx, key, bigLimit); return err })
}

// BenchmarkRealRawEvalshaParallel is the floor Allow is held to: rueidis
// running a minimal script (one INCR) by EVALSHA from as many goroutines.
func BenchmarkRealRawEvalshaParallel(b *testing.B) {
	rc := realRedis(b)
	script := rueidis.NewLuaScript("return redis.call('INCR', KEYS[1])")
	benchParallel(b, rc, func(key string) error { return script.Exec(ctx, rc, []string{key}, nil).Error() })
}

func BenchmarkRealAllow(b *testing.B) {
	rc := realRedis(b)
	lim, _ := smartlimit.New(rc)
	l := bigLimit
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := lim.Allow(ctx, "user"+strconv.Itoa(i%1000), l); err != nil {
			b.Fatal(err)
		}
	}
	reportRedisCPU(b, rc, b.N)
}

// BenchmarkRealAllowMany100: 100 keys, one round trip, one script call.
func BenchmarkRealAllowMany100(b *testing.B) {
	rc := realRedis(b)
	lim, _ := smartlimit.New(rc)
	reqs := batch(100, bigLimit)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lim.AllowMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	reportRedisCPU(b, rc, b.N*100)
}

// BenchmarkRealPipelined100Evalsha is what AllowMany is compared with: the
// same 100 GCRA checks as 100 EVALSHAs of the gcra script in one pipeline.
func BenchmarkRealPipelined100Evalsha(b *testing.B) {
	rc := realRedis(b)
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		b.Fatal(err)
	}
	gcra, _ := smartlimit.ScriptFor(smartlimit.GCRA)
	lim, _ := smartlimit.New(rc)
	l := bigLimit
	keys := make([]string, 100)
	for i := range keys {
		keys[i], _ = lim.Key("user"+strconv.Itoa(i), l)
	}
	// The arguments AllowN sends for l: 1e6 per second reduces to P = 1
	// tick per unit, R = 1 tick per µs.
	args := []string{"", "0", "0", "1", "1", "1000000000", "1", "1"}
	cmds := make(rueidis.Commands, 100)
	b.ReportAllocs()
	for b.Loop() {
		for i := range cmds {
			cmds[i] = rc.B().Evalsha().Sha1(gcra.SHA1).Numkeys(1).Key(keys[i]).Arg(args...).Build()
		}
		for _, r := range rc.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRedisCPU(b, rc, b.N*100)
}

// The key in BenchmarkRealPipelined100Evalsha must be the one AllowN uses,
// and its arguments the ones AllowN sends, or the comparison is unfair.
func TestPipelinedBenchmarkArgs(t *testing.T) {
	s := smartlimittest.New(t)
	l := bigLimit
	key, err := s.Client.Key("user0", l)
	if want := "sl:{user0}:gcra:1:1:1000000000:s1"; key != want || err != nil {
		t.Fatalf("key %q, %v; want %q", key, err, want)
	}
}
