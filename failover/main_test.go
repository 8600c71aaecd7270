package failover

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit/internal/testkit"
)

// TestMain fails the run when goroutines outlive the tests: health checks
// that Close did not stop, or anything else a test started and left.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil, 5*time.Second)) }

// settle polls runtime.NumGoroutine until it is at most want or timeout
// passes, and returns the last count.
func settle(want int, timeout time.Duration) (int, bool) {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return n, true
		}
		if time.Now().After(deadline) {
			return n, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
