// Package redistest starts real Redis servers for tests — a standalone
// redis-server, a Redis Cluster of several primaries, or a primary with a
// replica watched by Sentinel — on free loopback ports, and stops them when
// the test ends.
//
// A test that needs a real server calls Start, StartCluster or
// StartSentinel. Each first looks for servers of the user's own, named by
// an environment variable (AddrEnv, ClusterAddrsEnv, SentinelAddrsEnv);
// otherwise it starts redis-server processes found on PATH, each bound to
// 127.0.0.1 with persistence off. When neither is possible the test is
// skipped with a message that says what is missing, unless the variable
// SMARTLIMIT_REQUIRE_INTEGRATION is set (CI sets it), in which case it
// fails: in CI a skipped integration test is a failure.
//
// Servers named by the environment are shared with other tests and other
// runs: tests must use keys of their own, and tests that need to kill a
// server skip on them.
package redistest

import (
	"context"
	"errors"
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

// ErrNoRedisServer means redis-server is not on PATH, so no server can be
// started. Start and the others turn it into a skip (or a failure in CI).
var ErrNoRedisServer = errors.New("redistest: redis-server not found on PATH (apt-get install redis-server)")

// readyTimeout bounds how long a started process may take to answer PING.
const readyTimeout = 10 * time.Second

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

	tb   testing.TB // nil for servers started without a test (NewCluster)
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Container, when set, starts a standalone Redis in a container for Start
// when no redis-server is on PATH, and returns its address and how to stop
// it. The integration module sets it to a testcontainers-go starter, which
// fails at once when no Docker engine answers; the core module stays free of
// that dependency.
var Container func(ctx context.Context) (addr string, stop func(), err error)

// Start starts a standalone redis-server on a free loopback port, with
// persistence off and extra arguments appended (for example
// "--maxmemory", "1mb"), and stops it when the test ends. With AddrEnv set
// and no extra arguments it returns that server instead.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	if addr := os.Getenv(AddrEnv); addr != "" && len(extra) == 0 {
		return &Server{Addr: addr, tb: tb}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil && len(extra) > 0 {
		Unavailable(tb, "%v; this test starts its own server with %q", ErrNoRedisServer, extra)
	} else if err != nil {
		if Container == nil {
			Unavailable(tb, "%v, or set %s", ErrNoRedisServer, AddrEnv)
		}
		addr, stop, cerr := Container(context.Background())
		if cerr != nil {
			Unavailable(tb, "%v, no container either (%v), or set %s", ErrNoRedisServer, cerr, AddrEnv)
		}
		tb.Cleanup(stop)
		return &Server{Addr: addr, tb: tb}
	}
	s, err := startServer(bin, tb.TempDir(), extra...)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s.tb = tb
	tb.Cleanup(s.Stop)
	return s
}

// startServer starts bin on a free loopback port in dir with persistence
// off. A port taken between choosing and binding it is retried on another.
func startServer(bin, dir string, extra ...string) (*Server, error) {
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port)}
		s.args = append(serverArgs(port, dir), extra...)
		if err = s.launch(bin); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// serverArgs are the arguments every process gets: loopback only, no
// persistence, files in dir.
func serverArgs(port int, dir string) []string {
	return []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir}
}

// launch starts the process and waits until it answers PING; a process that
// exits first (a port in use, a bad argument) is an error at once.
func (s *Server) launch(bin string) error {
	cmd := exec.Command(bin, s.args...)
	cmd.SysProcAttr = procAttr()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ping(s.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s on %s exited: %s", bin, s.Addr, lastLine(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("%s on %s not ready after %v: %v", bin, s.Addr, readyTimeout, err)
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// Started reports whether the test started s, so that it may Kill it.
func (s *Server) Started() bool { return s.cmd != nil }

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		if s.tb != nil {
			s.tb.Fatalf("redistest: Kill on a server the test did not start")
		}
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Restart starts the server again on the same port and with the same
// arguments, after Kill; it fails the test that started the server when the
// server does not come back.
func (s *Server) Restart() {
	if err := s.RestartErr(); err != nil && s.tb != nil {
		s.tb.Helper()
		s.tb.Fatalf("redistest: %v", err)
	}
}

// RestartErr is Restart returning the error instead of failing a test.
func (s *Server) RestartErr() error {
	if s.cmd == nil {
		return errors.New("restart of a server the test did not start")
	}
	return s.launch(s.cmd.Path)
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

// Option returns the rueidis options that Client uses: the server's
// address, client-side caching off (a limiter never reads through a cache).
// Tests that need other options (a user and password, a dialer) start from
// it.
func (s *Server) Option() rueidis.ClientOption {
	return rueidis.ClientOption{InitAddress: []string{s.Addr}, DisableCache: true}
}

// Client returns a rueidis client for the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	return NewClient(tb, s.Option())
}

// NewClient returns a rueidis client made with opt, closed when the test
// ends.
func NewClient(tb testing.TB, opt rueidis.ClientOption) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(opt)
	if err != nil {
		tb.Fatalf("redistest: connecting to %v: %v", opt.InitAddress, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := freePort()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

// do sends one command in words to addr on a fresh connection and returns
// the reply, for setting servers up before any rueidis client can connect
// (a Cluster node without slots, say).
func do(ctx context.Context, addr string, words ...string) (rueidis.RedisMessage, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true,
		ForceSingleClient: true, DisableRetry: true})
	if err != nil {
		return rueidis.RedisMessage{}, err
	}
	defer c.Close()
	return c.Do(ctx, c.B().Arbitrary(words...).Build()).ToMessage()
}

// info returns the value of field in INFO section on addr.
func info(ctx context.Context, addr, section, field string) (string, error) {
	m, err := do(ctx, addr, "INFO", section)
	if err != nil {
		return "", err
	}
	s, err := m.ToString()
	if err != nil {
		return "", err
	}
	return InfoField(s, field), nil
}

// InfoField returns the value of field in the text of an INFO or CLUSTER
// INFO reply, or "" when it is not there.
func InfoField(info, field string) string {
	// Over RESP3, Redis 7 sends these replies as verbatim strings, which
	// rueidis hands over with their "txt:" format prefix.
	info = strings.TrimPrefix(info, "txt:")
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// ScriptUsec returns the microseconds that INFO commandstats counts for
// EVALSHA and EVAL on one server since its last CONFIG RESETSTAT: Redis' own
// CPU time in scripts, which benchmarks divide by their checks.
func ScriptUsec(ctx context.Context, rc rueidis.Client) (float64, error) {
	info, err := rc.Do(ctx, rc.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		return 0, err
	}
	var usec float64
	for _, cmd := range []string{"cmdstat_evalsha", "cmdstat_eval"} {
		for kv := range strings.SplitSeq(InfoField(info, cmd), ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				usec += n
			}
		}
	}
	return usec, nil
}
