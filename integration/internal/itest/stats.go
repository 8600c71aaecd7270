package itest

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// WriteCounter counts, per server address, the socket writes that carry a
// script call (EVALSHA or EVAL). rueidis writes one pipeline in one write,
// so the count is the number of round trips that sent scripts.
type WriteCounter struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

// Dial is a rueidis.ClientOption.DialCtxFn that counts the connection's
// script writes.
func (w *WriteCounter) Dial(ctx context.Context, dst string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
	conn, err := d.DialContext(ctx, "tcp", dst)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: conn, n: w.counter(dst)}, nil
}

func (w *WriteCounter) counter(addr string) *atomic.Int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]*atomic.Int64{}
	}
	n := w.counts[addr]
	if n == nil {
		n = new(atomic.Int64)
		w.counts[addr] = n
	}
	return n
}

// Snapshot returns the counts so far.
func (w *WriteCounter) Snapshot() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int64, len(w.counts))
	for a, n := range w.counts {
		out[a] = n.Load()
	}
	return out
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

var evalWord = []byte("EVAL") // EVALSHA too

func (c countingConn) Write(b []byte) (int, error) {
	if bytes.Contains(b, evalWord) {
		c.n.Add(1)
	}
	return c.Conn.Write(b)
}

// Info returns one INFO section of node.
func Info(ctx context.Context, node rueidis.Client, section string) (string, error) {
	return node.Do(ctx, node.B().Info().Section(section).Build()).ToString()
}

// CommandCalls returns the calls of command (lower case, "evalsha") in
// node's INFO commandstats.
func CommandCalls(ctx context.Context, node rueidis.Client, command string) (int64, error) {
	s, err := Info(ctx, node, "commandstats")
	if err != nil {
		return 0, err
	}
	return statField(redistest.InfoField(s, "cmdstat_"+command), "calls"), nil
}

// ErrorCount returns how many errors of the given prefix ("NOSCRIPT")
// node answered, from INFO errorstats.
func ErrorCount(ctx context.Context, node rueidis.Client, prefix string) (int64, error) {
	s, err := Info(ctx, node, "errorstats")
	if err != nil {
		return 0, err
	}
	return statField(redistest.InfoField(s, "errorstat_"+prefix), "count"), nil
}

// statField reads name=value out of "a=1,b=2".
func statField(s, name string) int64 {
	for kv := range strings.SplitSeq(s, ",") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// SlotOwners returns, for every hash slot, the address of the primary that
// serves it, from CLUSTER SLOTS.
func SlotOwners(ctx context.Context, rc rueidis.Client) ([16384]string, error) {
	var owners [16384]string
	ranges, err := rc.Do(ctx, rc.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return owners, err
	}
	for _, r := range ranges {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			return owners, err
		}
		lo, err1 := f[0].AsInt64()
		hi, err2 := f[1].AsInt64()
		node, err3 := f[2].ToArray()
		if err := firstErr(err1, err2, err3); err != nil {
			return owners, err
		}
		host, err1 := node[0].ToString()
		port, err2 := node[1].AsInt64()
		if err := firstErr(err1, err2); err != nil {
			return owners, err
		}
		for s := lo; s <= hi; s++ {
			owners[s] = net.JoinHostPort(host, strconv.FormatInt(port, 10))
		}
	}
	return owners, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
