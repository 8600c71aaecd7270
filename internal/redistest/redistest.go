// Package redistest starts real redis-server processes for tests, on free
// loopback ports, and stops them when the test ends.
//
// A test that needs a real server calls Start. When no server can be had it
// is skipped with a message that says what is missing, unless the variable
// SMARTLIMIT_REQUIRE_INTEGRATION is set (CI sets it), in which case it
// fails: in CI a skipped integration test is a failure.
//
// SMARTLIMIT_REDIS_ADDR names a server of the user's own instead; tests then
// share it and must use keys of their own.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// RequireEnv is the variable that turns a missing server into a failure.
const RequireEnv = "SMARTLIMIT_REQUIRE_INTEGRATION"

// AddrEnv names an existing standalone server to use instead of starting one.
const AddrEnv = "SMARTLIMIT_REDIS_ADDR"

// Unavailable skips tb, or fails it when RequireEnv is set.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("%s (and %s is set, so integration tests are required)", msg, RequireEnv)
	}
	tb.Skip(msg)
}

// Server is a redis-server process that a test started (or, with AddrEnv,
// one it was given).
type Server struct {
	Addr string // host:port on 127.0.0.1

	tb   testing.TB
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a standalone redis-server on a free loopback port, with
// persistence off and extra arguments appended (for example
// "--maxmemory", "1mb"), and stops it when the test ends.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	if addr := os.Getenv(AddrEnv); addr != "" && len(extra) == 0 {
		return &Server{Addr: addr, tb: tb}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(tb, "redis-server not found on PATH (apt-get install redis-server), or set %s", AddrEnv)
	}
	s := &Server{tb: tb}
	s.Addr = "127.0.0.1:" + strconv.Itoa(FreePort(tb))
	_, port, _ := net.SplitHostPort(s.Addr)
	s.args = append([]string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", tb.TempDir()}, extra...)
	s.start(bin)
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	s.tb.Helper()
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = nil, nil
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: starting redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	if err := WaitReady(s.Addr, 10*time.Second); err != nil {
		s.Stop()
		s.tb.Fatalf("redistest: redis-server on %s: %v", s.Addr, err)
	}
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		s.tb.Fatalf("redistest: Kill on a server the test did not start")
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Restart starts the server again on the same port, after Kill.
func (s *Server) Restart() {
	s.tb.Helper()
	s.start(s.cmd.Path)
}

// Stop ends the server if it runs. Tests need not call it: Start registers
// it with Cleanup.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Client returns a rueidis client for the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr}, DisableCache: true})
	if err != nil {
		tb.Fatalf("redistest: connecting to %s: %v", s.Addr, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitReady polls addr with PING until it answers PONG or timeout passes.
func WaitReady(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		last = ping(addr)
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", timeout, last)
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return fmt.Errorf("answered %q", buf[:n])
	}
	return nil
}

// Flush empties the server's data and script cache, for tests that share a
// server named by AddrEnv.
func (s *Server) Flush(ctx context.Context, c rueidis.Client) error {
	return c.Do(ctx, c.B().Flushall().Build()).Error()
}
