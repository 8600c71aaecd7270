package mongo_test

import (
	"testing"

	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/mongostore"
)

// TestConformance runs the suite every tier passes on the mongo tier, each
// case on a fresh collection. On FerretDB the suite runs single-threaded:
// its one concurrent case ("Concurrent", 64 goroutines at one instant) is
// skipped there, and runs on a real MongoDB.
func TestConformance(t *testing.T) {
	srv := startServer(t)
	var opts limitertest.Options
	if srv.Ferret {
		opts.Sequential = "FerretDB v1 loses concurrent updates (8 writers × 50 $inc ended at 38); set " + URIEnv + " to a real MongoDB to run it"
	}
	limitertest.RunOptions(t, opts, func(t *testing.T) limitertest.Backend {
		st, c := newStore(t, srv, mongostore.Options{})
		return limitertest.Func(st, c.Set)
	})
}
