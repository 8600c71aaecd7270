// Package testkit is what the project's own tests share: a leak check for
// TestMain and a settable clock. (It is not for users' tests, which have
// smartlimittest; the conformance suite is limitertest, and real servers
// come from internal/redistest.)
package testkit

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Main runs the tests of m, then close (when not nil), and fails the run
// when goroutines outlive them for longer than wait: servers, clients,
// janitors or health loops that a test started and did not stop. It
// returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil, 5*time.Second)) }
func Main(m *testing.M, close func(), wait time.Duration) int {
	before := runtime.NumGoroutine()
	code := m.Run()
	if close != nil {
		close()
	}
	if code != 0 {
		return code
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines after the tests, %d before:\n%s\n", runtime.NumGoroutine(), before, buf)
			return 1
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
}

// Clock is a clock that tests set. Its methods are safe for simultaneous
// use; the zero Clock reads the Unix epoch.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t, forwards or back.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
