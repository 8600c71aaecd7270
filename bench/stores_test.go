package bench

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/smartlimit/smartlimit"
	ulule "github.com/ulule/limiter/v3"
	ululememory "github.com/ulule/limiter/v3/drivers/store/memory"
)

// BenchmarkKeyedStores sets memfallback beside the keyed in-memory stores
// of two peers, on the real clock (they read time.Now themselves):
// sethvargo/go-limiter's memorystore and ulule/limiter's memory store.
func BenchmarkKeyedStores(b *testing.B) {
	ctx := context.Background()
	for _, nkeys := range []int{1, 10_000} {
		prefix := "keys=" + strconv.Itoa(nkeys) + "/"
		b.Run(prefix+"memfallback-gcra", func(b *testing.B) {
			run(b, nkeys, memfallbackChecker(b, nil, smartlimit.Limit{Rate: benchRate, Period: time.Second})) // nil: its default clock
		})
		b.Run(prefix+"sethvargo-memorystore", func(b *testing.B) {
			run(b, nkeys, func(ks []string) checker {
				st, err := memorystore.New(&memorystore.Config{Tokens: benchRate, Interval: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close(ctx) })
				return func(i int) bool {
					_, _, _, ok, _ := st.Take(ctx, ks[i])
					return ok
				}
			})
		})
		b.Run(prefix+"ulule-memory", func(b *testing.B) {
			run(b, nkeys, func(ks []string) checker {
				lim := ulule.New(ululememory.NewStore(), ulule.Rate{Period: time.Second, Limit: benchRate})
				return func(i int) bool {
					c, _ := lim.Get(ctx, ks[i])
					return !c.Reached
				}
			})
		})
	}
}
