package mongo_test

import (
	"strings"
	"testing"

	"github.com/smartlimit/smartlimit/limitertest"
	mongostore "github.com/smartlimit/smartlimit/mongo"
)

// TestConformance runs the suite every tier passes on the mongo tier, each
// case on a fresh collection. On FerretDB the suite runs single-threaded:
// its one concurrent case ("Concurrent", 64 goroutines at one instant) is
// skipped there, and runs on a real MongoDB.
func TestConformance(t *testing.T) {
	srv := startServer(t)
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		if strings.HasSuffix(t.Name(), "/Concurrent") {
			skipOnFerret(t, srv, "limitertest's Concurrent case")
		}
		st, c := newStore(t, srv, mongostore.Options{})
		return limitertest.Func(st, c.Set)
	})
}
