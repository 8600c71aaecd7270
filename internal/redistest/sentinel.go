package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// SentinelAddrsEnv names existing Sentinels, as comma-separated host:port
// addresses, to use instead of starting a primary, a replica and a
// Sentinel. SentinelMasterEnv names their master set ("mymaster" when
// unset).
const (
	SentinelAddrsEnv  = "SMARTLIMIT_REDIS_SENTINEL_ADDRS"
	SentinelMasterEnv = "SMARTLIMIT_REDIS_SENTINEL_MASTER"
)

// DefaultMasterSet is the master set name of a Sentinel that StartSentinel
// starts, and of one named by SentinelAddrsEnv unless SentinelMasterEnv
// says otherwise.
const DefaultMasterSet = "mymaster"

// Sentinel is a primary with one replica, watched by one Sentinel with
// quorum 1 that fails over one second after the primary stops answering;
// or, with SentinelAddrsEnv, Sentinels of the user's own (Primary, Replica
// and Sentinel are nil then).
type Sentinel struct {
	Addrs     []string // the Sentinels' host:port
	MasterSet string

	Primary, Replica, Sentinel *Server
}

// StartSentinel returns the Sentinels named by SentinelAddrsEnv or starts a
// primary, a replica and a Sentinel, which it stops when the test ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	if env := os.Getenv(SentinelAddrsEnv); env != "" {
		set := os.Getenv(SentinelMasterEnv)
		if set == "" {
			set = DefaultMasterSet
		}
		return &Sentinel{Addrs: splitAddrs(env), MasterSet: set}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(tb, "%v, or set %s", ErrNoRedisServer, SentinelAddrsEnv)
	}
	dir := tb.TempDir()
	ctx := context.Background()
	s := &Sentinel{MasterSet: DefaultMasterSet}
	start := func(bin string, extra ...string) *Server {
		tb.Helper()
		srv, err := startServer(bin, dir, extra...)
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		srv.tb = tb
		tb.Cleanup(srv.Stop)
		return srv
	}
	// Diskless sync waits 5 s by default for more replicas to join; there
	// is one.
	nodelay := []string{"--repl-diskless-sync-delay", "0"}
	s.Primary = start(bin, nodelay...)
	host, port, _ := strings.Cut(s.Primary.Addr, ":")
	s.Replica = start(bin, append(nodelay, "--replicaof", host, port)...)
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		v, err := info(ctx, s.Replica.Addr, "replication", "master_link_status")
		return v == "up", err
	}); err != nil {
		tb.Fatalf("redistest: replica %s never synced with %s: %v", s.Replica.Addr, s.Primary.Addr, err)
	}

	// Sentinel reads its configuration from a file, which it also rewrites.
	sport := FreePort(tb)
	conf := filepath.Join(tb.TempDir(), "sentinel.conf")
	text := fmt.Sprintf(`bind 127.0.0.1
port %d
dir %s
sentinel monitor %s %s %s 1
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 5000
`, sport, dir, s.MasterSet, host, port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	sbin, args := bin, []string{conf, "--sentinel"}
	if b, err := exec.LookPath("redis-sentinel"); err == nil {
		sbin, args = b, []string{conf}
	}
	s.Sentinel = &Server{Addr: "127.0.0.1:" + strconv.Itoa(sport), args: args, tb: tb}
	if err := s.Sentinel.launch(sbin); err != nil {
		tb.Fatalf("redistest: sentinel: %v", err)
	}
	tb.Cleanup(s.Sentinel.Stop)
	s.Addrs = []string{s.Sentinel.Addr}
	// A failover needs the Sentinel to know the replica, which it learns
	// from the primary's INFO.
	if err := waitFor(ctx, 15*time.Second, func() (bool, error) {
		v, err := info(ctx, s.Sentinel.Addr, "sentinel", "master0")
		return strings.Contains(v, "status=ok") && strings.Contains(v, "slaves=1"), err
	}); err != nil {
		tb.Fatalf("redistest: sentinel %s never saw the replica: %v", s.Sentinel.Addr, err)
	}
	return s
}

// waitFor polls cond until it is true or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("condition not met")
			}
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Option returns the rueidis options that Client uses: the Sentinels'
// addresses and master set, client-side caching off, and a topology refresh
// every second so that a missed +switch-master event cannot strand the
// client on an old primary.
func (s *Sentinel) Option() rueidis.ClientOption {
	return rueidis.ClientOption{
		InitAddress:  s.Addrs,
		DisableCache: true,
		Sentinel:     rueidis.SentinelOption{MasterSet: s.MasterSet, TopologyRefreshInterval: time.Second},
	}
}

// Client returns a rueidis client that follows the master set's primary,
// closed when the test ends.
func (s *Sentinel) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	return NewClient(tb, s.Option())
}

// PrimaryAddr asks the first Sentinel for the master set's primary.
func (s *Sentinel) PrimaryAddr(ctx context.Context) (string, error) {
	m, err := do(ctx, s.Addrs[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterSet)
	if err != nil {
		return "", err
	}
	hp, err := m.AsStrSlice()
	if err != nil || len(hp) != 2 {
		return "", fmt.Errorf("redistest: GET-MASTER-ADDR-BY-NAME answered %v, %v", hp, err)
	}
	return hp[0] + ":" + hp[1], nil
}

// Failover makes the master set change primary: when the test started the
// servers, by killing the primary with SIGKILL, as a crash would, so that
// Sentinel promotes the replica; otherwise by SENTINEL FAILOVER. It returns
// the primary's address from before.
func (s *Sentinel) Failover(ctx context.Context) (old string, err error) {
	if old, err = s.PrimaryAddr(ctx); err != nil {
		return "", err
	}
	if s.Primary != nil {
		s.Primary.Kill()
		return old, nil
	}
	_, err = do(ctx, s.Addrs[0], "SENTINEL", "FAILOVER", s.MasterSet)
	return old, err
}
