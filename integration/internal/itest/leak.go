package itest

import (
	"testing"
	"time"

	"github.com/smartlimit/smartlimit/internal/testkit"
)

// Main runs a package's tests, then close, then checks that the tests left
// no goroutines behind (every rueidis client closed, every load goroutine
// done). Call it from TestMain: os.Exit(itest.Main(m, cluster.Close)). It
// waits up to 10 s: rueidis' cluster client closes the connections a
// topology refresh replaced 5 s later, from a goroutine that outlives
// Close (cluster.go, _refresh).
func Main(m *testing.M, close func()) int { return testkit.Main(m, close, 10*time.Second) }
