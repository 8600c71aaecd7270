package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit/integration/internal/itest"
)

// TestStallHonorsDeadlines pauses every node (CLIENT PAUSE ALL) under load
// and demands that every call return at its deadline; see itest.Stall.
func TestStallHonorsDeadlines(t *testing.T) {
	cl := cluster.Get(t)
	if !cl.Started() {
		t.Skip("the cluster is shared (named by the environment): this test must not pause it")
	}
	rc, admin := cl.Client(t), cl.Client(t)
	itest.Stall(t, itest.NewClient(t, rc), func(ctx context.Context, d time.Duration) error {
		for _, node := range admin.Nodes() {
			if err := node.Do(ctx, node.B().ClientPause().Timeout(d.Milliseconds()).All().Build()).Error(); err != nil {
				return err
			}
		}
		return nil
	}, 5*time.Second)
}
