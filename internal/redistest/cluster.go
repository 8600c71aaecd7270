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
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// ClusterAddrsEnv names an existing Redis Cluster, as comma-separated
// host:port seed addresses, to use instead of starting one.
const ClusterAddrsEnv = "SMARTLIMIT_REDIS_CLUSTER_ADDRS"

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// busOffset is how far above a node's port Redis puts its cluster bus.
const busOffset = 10000

// Cluster is a Redis Cluster: started by the test (Nodes holds its
// primaries, one process each) or named by ClusterAddrsEnv (Nodes is nil).
type Cluster struct {
	Addrs []string // the primaries' (or the seeds') host:port
	Nodes []*Server

	dir string // removed by Close when NewCluster made it
}

// StartCluster returns the cluster named by ClusterAddrsEnv or starts one
// of primaries nodes, which it stops when the test ends. Building a
// cluster takes about a second; tests of one package should share one (see
// ClusterOnce).
func StartCluster(tb testing.TB, primaries int, extra ...string) *Cluster {
	tb.Helper()
	c, err := clusterFromEnvOrNew(primaries, extra...)
	if errors.Is(err, ErrNoRedisServer) {
		Unavailable(tb, "%v, or set %s", err, ClusterAddrsEnv)
	}
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

func clusterFromEnvOrNew(primaries int, extra ...string) (*Cluster, error) {
	if env := os.Getenv(ClusterAddrsEnv); env != "" {
		return &Cluster{Addrs: splitAddrs(env)}, nil
	}
	return NewCluster(context.Background(), primaries, extra...)
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// NewCluster starts primaries redis-server processes in cluster mode and
// joins them into one cluster: each takes an equal range of slots
// (CLUSTER ADDSLOTSRANGE), gets its own config epoch, and meets the first
// (CLUSTER MEET). It returns when every node reports cluster_state:ok and
// knows every primary. It returns ErrNoRedisServer when redis-server is not
// on PATH. The caller must Close the cluster.
func NewCluster(ctx context.Context, primaries int, extra ...string) (_ *Cluster, err error) {
	if primaries < 1 || primaries > clusterSlots {
		return nil, fmt.Errorf("redistest: a cluster of %d primaries", primaries)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedisServer
	}
	dir, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	ports, err := clusterPorts(primaries)
	if err != nil {
		return nil, err
	}
	for i, port := range ports {
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port)}
		// A short node timeout: nodes here never fail over, and a killed
		// test should not leave a cluster waiting on its peers for long.
		s.args = append(serverArgs(port, dir),
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes-"+strconv.Itoa(port)+".conf",
			"--cluster-node-timeout", "2000")
		s.args = append(s.args, extra...)
		if err := s.launch(bin); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
		lo, hi := i*clusterSlots/primaries, (i+1)*clusterSlots/primaries-1
		// Distinct config epochs spare the nodes resolving a collision.
		for _, cmd := range [][]string{
			{"CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)},
			{"CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i + 1)},
		} {
			if _, err := do(ctx, s.Addr, cmd...); err != nil {
				return nil, fmt.Errorf("redistest: %s on %s: %w", strings.Join(cmd, " "), s.Addr, err)
			}
		}
	}
	first, port0 := c.Addrs[0], strconv.Itoa(ports[0])
	for _, a := range c.Addrs[1:] {
		if _, err := do(ctx, a, "CLUSTER", "MEET", "127.0.0.1", port0); err != nil {
			return nil, fmt.Errorf("redistest: CLUSTER MEET %s from %s: %w", first, a, err)
		}
	}
	if err := c.waitOK(ctx, 20*time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

// clusterPorts picks n distinct free ports whose cluster bus ports
// (port+10000) are free too.
func clusterPorts(n int) ([]int, error) {
	taken := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			return nil, errors.New("redistest: no free port pairs for a cluster")
		}
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if p+busOffset > 65535 || taken[p] || taken[p+busOffset] || !portFree(p+busOffset) {
			continue
		}
		taken[p], taken[p+busOffset] = true, true
		ports = append(ports, p)
	}
	return ports, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// waitOK polls every node until it reports cluster_state:ok and sees every
// primary with slots.
func (c *Cluster) waitOK(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, a := range c.Addrs {
		for {
			m, err := do(ctx, a, "CLUSTER", "INFO")
			var s string
			if err == nil {
				s, err = m.ToString()
			}
			if err == nil && InfoField(s, "cluster_state") == "ok" &&
				InfoField(s, "cluster_size") == strconv.Itoa(len(c.Addrs)) &&
				InfoField(s, "cluster_known_nodes") == strconv.Itoa(len(c.Addrs)) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("redistest: cluster node %s not ok after %v: %v %q", a, timeout, err, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Started reports whether the test started the cluster's processes.
func (c *Cluster) Started() bool { return c.Nodes != nil }

// Option returns the rueidis options that Client uses: the cluster's
// addresses, client-side caching off.
func (c *Cluster) Option() rueidis.ClientOption {
	return rueidis.ClientOption{InitAddress: c.Addrs, DisableCache: true}
}

// Client returns a rueidis cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	rc := NewClient(tb, c.Option())
	if rc.Mode() != rueidis.ClientModeCluster {
		tb.Fatalf("redistest: %v is not a cluster (rueidis mode %s)", c.Addrs, rc.Mode())
	}
	return rc
}

// Close stops the cluster's processes, if the test started them, and
// removes their files.
func (c *Cluster) Close() {
	for _, s := range c.Nodes {
		s.Stop()
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// ClusterOnce starts one cluster for every test of a package that asks for
// it, the first time one does, so that the package pays for one cluster.
// Declare it in the package and Close it in TestMain after m.Run:
//
//	var cluster = redistest.ClusterOnce{Primaries: 3}
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		cluster.Close()
//		os.Exit(code)
//	}
type ClusterOnce struct {
	Primaries int // 3 when 0

	once sync.Once
	c    *Cluster
	err  error
}

// Get returns the package's cluster, starting it on first use; it skips or
// fails tb as StartCluster does when none can be had.
func (o *ClusterOnce) Get(tb testing.TB) *Cluster {
	tb.Helper()
	o.once.Do(func() {
		n := o.Primaries
		if n == 0 {
			n = 3
		}
		o.c, o.err = clusterFromEnvOrNew(n)
	})
	if errors.Is(o.err, ErrNoRedisServer) {
		Unavailable(tb, "%v, or set %s", o.err, ClusterAddrsEnv)
	}
	if o.err != nil {
		tb.Fatalf("redistest: %v", o.err)
	}
	return o.c
}

// Close stops the cluster if Get started one.
func (o *ClusterOnce) Close() {
	o.once.Do(func() {}) // no Get after Close starts a cluster
	if o.c != nil {
		o.c.Close()
	}
}
