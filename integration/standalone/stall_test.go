package standalone

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/integration/internal/itest"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// TestStallHonorsDeadlines pauses the server (CLIENT PAUSE ALL) under load
// and demands that every call return at its deadline; see itest.Stall.
func TestStallHonorsDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  smartlimit.Option
	}{
		{"uncoalesced", smartlimit.WithoutCoalescing()},
		{"coalesced", smartlimit.WithCoalescing(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			if !srv.Started() {
				t.Skipf("%s names a shared server, which this test must not pause", redistest.AddrEnv)
			}
			rc, admin := srv.Client(t), srv.Client(t)
			c, err := smartlimit.New(rc, smartlimit.WithPrefix(itest.Prefix()), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			itest.Stall(t, c, func(ctx context.Context, d time.Duration) error {
				return pause(ctx, admin, d)
			}, 5*time.Second)
		})
	}
}

func pause(ctx context.Context, rc rueidis.Client, d time.Duration) error {
	return rc.Do(ctx, rc.B().ClientPause().Timeout(d.Milliseconds()).All().Build()).Error()
}
