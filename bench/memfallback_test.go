package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/memfallback"
	"golang.org/x/time/rate"
)

// The same checks on memfallback and on golang.org/x/time/rate, the usual
// in-process reference: one key (one rate.Limiter) and 10,000 keys (a
// sync.Map of rate.Limiters, the common way to key them), from one
// goroutine and from GOMAXPROCS goroutines. Both read the real clock, as
// rate.Limiter.Allow does; the "frozen" variants pass one instant (rate's
// AllowN(t, n)) to leave out time.Now, which is slow on some VMs.

const benchRate = 1_000_000 // per second, burst the same: checks are allowed

func keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "user:" + strconv.Itoa(i)
	}
	return ks
}

// strides are the steps of the parallel goroutines' walks over the keys:
// primes, so that every walk visits every key of 10,000.
var strides = []int{1, 3, 7, 11, 13, 17, 19, 23}

// checker is one check of key i.
type checker func(i int) bool

func run(b *testing.B, nkeys int, newChecker func(keys []string) checker) {
	ks := keys(nkeys)
	b.Run("serial", func(b *testing.B) {
		check := newChecker(ks)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			check(i)
			if i++; i == nkeys {
				i = 0
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		check := newChecker(ks)
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine walks the keys from its own start with its
			// own stride. Walking them in step, goroutines that lap one
			// another fall into a convoy, each waiting for the key the
			// one ahead holds, which real traffic does not do.
			g := int(next.Add(1))
			i, stride := g*7919%nkeys, strides[g%len(strides)]%nkeys
			for pb.Next() {
				check(i)
				if i += stride; i >= nkeys {
					i -= nkeys
				}
			}
		})
	})
}

// The checker constructors are not inlined: the copy of a closure that
// inlining makes in its caller does not get the calls in it inlined again
// (Go 1.26), so an inlined memfallbackChecker calls AllowN where user code
// would inline it, copying the Result out through the stack.
//
//go:noinline
func memfallbackChecker(b *testing.B, clock func() time.Time, l smartlimit.Limit) func(keys []string) checker {
	return func(ks []string) checker {
		s, err := memfallback.New(memfallback.Options{Clock: clock})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		ctx := context.Background()
		for _, k := range ks {
			s.AllowN(ctx, k, l, 1)
		}
		return func(i int) bool {
			r, _ := s.AllowN(ctx, ks[i], l, 1)
			return r.Allowed
		}
	}
}

//go:noinline
func rateChecker(frozen time.Time) func(keys []string) checker {
	return func(ks []string) checker {
		allow := func(lim *rate.Limiter) bool {
			if frozen.IsZero() {
				return lim.Allow()
			}
			return lim.AllowN(frozen, 1)
		}
		if len(ks) == 1 {
			lim := rate.NewLimiter(benchRate, benchRate)
			return func(int) bool { return allow(lim) }
		}
		var m sync.Map
		for _, k := range ks {
			m.Store(k, rate.NewLimiter(benchRate, benchRate))
		}
		return func(i int) bool {
			v, ok := m.Load(ks[i])
			if !ok {
				v, _ = m.LoadOrStore(ks[i], rate.NewLimiter(benchRate, benchRate))
			}
			return allow(v.(*rate.Limiter))
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	frozen := time.Now()
	frozenClock := func() time.Time { return frozen }
	for _, clock := range []struct {
		name   string
		mem    func() time.Time
		frozen time.Time
	}{{"clock=real", nil, time.Time{}}, {"clock=frozen", frozenClock, frozen}} { // nil: memfallback's own clock
		for _, nkeys := range []int{1, 10_000} {
			prefix := clock.name + "/keys=" + strconv.Itoa(nkeys) + "/"
			for _, l := range []smartlimit.Limit{
				{Algorithm: smartlimit.GCRA, Rate: benchRate, Period: time.Second},
				{Algorithm: smartlimit.TokenBucket, Rate: benchRate, Period: time.Second},
				{Algorithm: smartlimit.FixedWindow, Rate: 1000 * benchRate, Period: time.Second},
			} {
				b.Run(prefix+"memfallback-"+l.Algorithm.String(), func(b *testing.B) {
					run(b, nkeys, memfallbackChecker(b, clock.mem, l))
				})
			}
			b.Run(prefix+"x-time-rate", func(b *testing.B) { run(b, nkeys, rateChecker(clock.frozen)) })
		}
	}
}
