package itest

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// Main runs a package's tests, then close, then checks that the tests left
// no goroutines behind (every rueidis client closed, every load goroutine
// done), polling for up to 10 s because closed clients take a moment to
// wind down. Call it from TestMain: os.Exit(itest.Main(m, cluster.Close)).
func Main(m *testing.M, close func()) int {
	base := runtime.NumGoroutine()
	code := m.Run()
	if close != nil {
		close()
	}
	if code != 0 {
		return code
	}
	// rueidis' cluster client closes the connections a topology refresh
	// replaced 5 s later, from a goroutine that outlives Close
	// (cluster.go, _refresh); wait past that.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "leak: %d goroutines after the tests, %d before:\n%s\n", runtime.NumGoroutine(), base, buf)
			return 1
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
}
