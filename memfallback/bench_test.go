package memfallback_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/memfallback"
)

// benchLimits are generous, so that checks are allowed and write state
// (on a frozen clock the fixed window's billion a second lasts the run).
var benchLimits = []smartlimit.Limit{
	{Algorithm: smartlimit.GCRA, Rate: 1_000_000, Period: time.Second},
	{Algorithm: smartlimit.TokenBucket, Rate: 1_000_000, Period: time.Second},
	{Algorithm: smartlimit.FixedWindow, Rate: 1_000_000_000, Period: time.Second},
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkAllowN measures one check: one key and 10,000 keys, from one
// goroutine and from GOMAXPROCS goroutines, on the real clock and on a
// frozen one (which leaves out the cost of time.Now, large on some VMs).
func BenchmarkAllowN(b *testing.B) {
	b.Run("clock=real", func(b *testing.B) { benchAllowN(b, time.Now) })
	frozen := time.Now()
	b.Run("clock=frozen", func(b *testing.B) { benchAllowN(b, func() time.Time { return frozen }) })
}

func benchAllowN(b *testing.B, clock func() time.Time) {
	for _, l := range benchLimits {
		for _, nkeys := range []int{1, 10_000} {
			keys := benchKeys(nkeys)
			name := l.Algorithm.String() + "/keys=" + strconv.Itoa(nkeys)
			b.Run(name+"/serial", func(b *testing.B) {
				s := benchStore(b, clock, keys, l)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := s.AllowN(context.Background(), keys[i], l, 1); err != nil {
						b.Fatal(err)
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				s := benchStore(b, clock, keys, l)
				b.ReportAllocs()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					// Each goroutine walks the keys from its own start
					// with its own prime stride: walking them in step,
					// goroutines that lap one another fall into a convoy
					// on one key at a time.
					g := int(next.Add(1))
					i, stride := g*7919%nkeys, []int{1, 3, 7, 11, 13, 17, 19, 23}[g%8]%nkeys
					for pb.Next() {
						if _, err := s.AllowN(context.Background(), keys[i], l, 1); err != nil {
							b.Error(err)
							return
						}
						if i += stride; i >= nkeys {
							i -= nkeys
						}
					}
				})
			})
		}
	}
}

// benchStore returns a store with every key warm under l.
func benchStore(b *testing.B, clock func() time.Time, keys []string, l smartlimit.Limit) *memfallback.Store {
	s, err := memfallback.New(memfallback.Options{Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for _, k := range keys {
		s.AllowN(context.Background(), k, l, 1)
	}
	return s
}
