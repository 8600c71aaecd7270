package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// checkRedisTier checks the Redis that o names.
func checkRedisTier(ctx context.Context, o healthOptions) TierHealth {
	th := TierHealth{Tier: smartlimit.TierRedis, Status: statusHealthy, Problems: []string{}, Nodes: []NodeHealth{}, Probes: []ProbeHealth{}}
	problem := func(status, format string, args ...any) {
		th.Problems = append(th.Problems, fmt.Sprintf(format, args...))
		th.Status = worse(th.Status, status)
	}
	t, err := connect(ctx, o.Redis, false)
	if err != nil {
		th.Target = o.Redis.URL
		if th.Target == "" {
			th.Target = defaultRedisURL
		}
		th.Target = redactURL(th.Target)
		problem(statusDown, "%v", err)
		return th
	}
	defer t.Close()
	th.Target = t.Name

	nodes := t.Redis.Nodes()
	addrs := make([]string, 0, len(nodes))
	for addr := range nodes {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	reachable := 0
	var modes []string
	for _, addr := range addrs {
		nh, mode := checkNode(ctx, addr, nodes[addr])
		if nh.Reachable {
			reachable++
			if mode != "" && !slices.Contains(modes, mode) {
				modes = append(modes, mode)
			}
			if time.Duration(nh.LatencyUS)*time.Microsecond > o.MaxLatency {
				problem(statusDegraded, "%s: PING took %v, more than --max-latency %v", addr, time.Duration(nh.LatencyUS)*time.Microsecond, o.MaxLatency)
			}
		} else {
			problem(statusDegraded, "%s: unreachable: %s", addr, nh.Error)
		}
		th.Nodes = append(th.Nodes, nh)
	}
	if reachable == 0 {
		problem(statusDown, "no node answers")
		return th
	}

	// INFO's redis_mode says what a node is. Without it (miniredis, some
	// managed services), rueidis' view decides, but only a node that
	// answers CLUSTER INFO is a Cluster: rueidis takes any server that
	// answers CLUSTER SLOTS for one.
	switch {
	case t.Embedded != nil:
		th.Mode = "embedded"
	case t.Redis.Mode() == rueidis.ClientModeSentinel:
		th.Mode = "sentinel"
	case slices.Contains(modes, "cluster"):
		th.Mode = "cluster"
	case len(modes) > 0:
		th.Mode = modes[0]
	default:
		th.Mode = "standalone"
	}
	if th.Mode == "cluster" || len(modes) == 0 && t.Embedded == nil && t.Redis.Mode() == rueidis.ClientModeCluster {
		if state, ok := clusterState(ctx, nodes, addrs); ok {
			th.Mode, th.ClusterState = "cluster", state
			if state != "ok" {
				problem(statusDegraded, "cluster_state is %q, not ok", state)
			}
		}
	}

	// Clock skew: the spread of the offsets of the nodes that answered.
	var lo, hi int64
	first := true
	for _, n := range th.Nodes {
		if !n.clockKnown {
			continue
		}
		if first || n.ClockOffsetUS < lo {
			lo = n.ClockOffsetUS
		}
		if first || n.ClockOffsetUS > hi {
			hi = n.ClockOffsetUS
		}
		first = false
	}
	th.ClockSkewUS = hi - lo
	if skew := time.Duration(th.ClockSkewUS) * time.Microsecond; skew > o.MaxSkew {
		problem(statusDegraded, "clocks of the nodes differ by %v, more than --max-skew %v", skew, o.MaxSkew)
	}

	missing, err := smartlimit.MissingScripts(ctx, t.Redis)
	if err != nil {
		problem(statusDegraded, "SCRIPT EXISTS: %v", err)
	}
	for i := range th.Nodes {
		n := &th.Nodes[i]
		n.MissingScripts = missing[n.Addr]
		if n.MissingScripts == nil {
			n.MissingScripts = []string{}
		}
		if len(n.MissingScripts) > 0 {
			problem(statusDegraded, "%s: %d scripts not loaded (%s); checks fall back to EVAL: run \"smartlimit scripts load\"",
				n.Addr, len(n.MissingScripts), strings.Join(n.MissingScripts, ", "))
		}
	}

	var only string // the node that serves every probe, when there is one
	if len(addrs) == 1 {
		only = addrs[0]
	}
	th.Probes = probe(ctx, t, o.ProbeKey, th.Mode == "cluster", only)
	for _, p := range th.Probes {
		if !p.OK {
			problem(statusDown, "probe %s on key %q: %s", p.Script, p.Key, p.Error)
		} else if d := time.Duration(p.LatencyUS) * time.Microsecond; d > o.MaxLatency {
			problem(statusDegraded, "probe %s took %v, more than --max-latency %v", p.Script, d, o.MaxLatency)
		}
	}
	return th
}

// checkNode PINGs one node and reads its INFO and TIME. It returns the
// node's redis_mode too ("" when INFO does not say, as on miniredis).
func checkNode(ctx context.Context, addr string, node rueidis.Client) (NodeHealth, string) {
	nh := NodeHealth{Addr: addr, MissingScripts: []string{}}
	start := time.Now()
	if err := node.Do(ctx, node.B().Ping().Build()).Error(); err != nil {
		nh.Error = err.Error()
		return nh, ""
	}
	nh.LatencyUS = time.Since(start).Microseconds()
	nh.Reachable = true

	var mode string
	if info, err := node.Do(ctx, node.B().Info().Section("server").Build()).ToString(); err == nil {
		kv := parseInfo(info)
		nh.Version, mode = kv["redis_version"], kv["redis_mode"]
	}
	if nh.Version == "" {
		nh.Version = "unknown"
	}
	if info, err := node.Do(ctx, node.B().Info().Section("replication").Build()).ToString(); err == nil {
		switch parseInfo(info)["role"] {
		case "master":
			nh.Role = "primary"
		case "slave":
			nh.Role = "replica"
		}
	}

	// The offset is measured NTP-style, at the middle of the round trip;
	// the fastest of three round trips bounds its error best.
	bestRTT := time.Duration(-1)
	for range 3 {
		before := time.Now()
		tm, err := node.Do(ctx, node.B().Time().Build()).ToArray()
		rtt := time.Since(before)
		if err != nil || len(tm) != 2 || (bestRTT >= 0 && rtt >= bestRTT) {
			continue
		}
		sec, err1 := tm[0].AsInt64()
		usec, err2 := tm[1].AsInt64()
		if err1 == nil && err2 == nil {
			bestRTT, nh.clockKnown = rtt, true
			nh.ClockOffsetUS = sec*1_000_000 + usec - before.Add(rtt/2).UnixMicro()
		}
	}
	return nh, mode
}

// parseInfo reads the "key:value" lines of an INFO or CLUSTER INFO reply.
func parseInfo(info string) map[string]string {
	// Over RESP3 these are verbatim strings, and rueidis keeps their format
	// prefix: without this, CLUSTER INFO's first line reads as "txt".
	info = strings.TrimPrefix(info, "txt:")
	kv := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			kv[k] = v
		}
	}
	return kv
}

// clusterState returns the first cluster_state a node reports, and false
// when no node answers CLUSTER INFO.
func clusterState(ctx context.Context, nodes map[string]rueidis.Client, addrs []string) (string, bool) {
	for _, addr := range addrs {
		n := nodes[addr]
		info, err := n.Do(ctx, n.B().ClusterInfo().Build()).ToString()
		if err != nil {
			continue
		}
		if s := parseInfo(info)["cluster_state"]; s != "" {
			return s, true
		}
	}
	return "", false
}

// probeLimits are the limits the probes check: one per algorithm, and a
// pair for the "multi" script, which AllowAll and batches that mix
// algorithms run.
func probeLimits() []smartlimit.Limit {
	var ls []smartlimit.Limit
	for _, s := range smartlimit.Scripts() {
		a, err := smartlimit.ParseAlgorithm(s.Name)
		if err != nil {
			continue // "multi": probed with AllowAll below
		}
		ls = append(ls, smartlimit.Limit{Algorithm: a, Rate: 1, Period: time.Second})
	}
	return ls
}

// probe runs one check of cost 0 through every script on key (on a
// Cluster, on one key per primary) and checks that the reply makes sense.
func probe(ctx context.Context, t *target, key string, cluster bool, node string) []ProbeHealth {
	keys := map[string]string{node: key} // node → probe key
	if cluster {
		if k, err := probeKeys(ctx, t.Redis, key); err == nil && len(k) > 0 {
			keys = k
		}
	}
	nodes := make([]string, 0, len(keys))
	for n := range keys {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var out []ProbeHealth
	for _, node = range nodes {
		k := keys[node]
		for _, l := range probeLimits() {
			start := time.Now()
			r, err := t.Client.AllowN(ctx, k, l, 0)
			out = append(out, probeResult(l.Algorithm.String(), node, k, l.Capacity(), r, err, time.Since(start)))
		}
		// "multi" holds every algorithm; AllowAll always runs it.
		a, b := smartlimit.Limit{Rate: 1, Period: time.Second}, smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1, Period: time.Second}
		start := time.Now()
		r, err := t.Client.AllowAll(ctx, k, 0, a, b)
		out = append(out, probeResult("multi", node, k, 1, r, err, time.Since(start)))
	}
	return out
}

func probeResult(script, node, key string, capacity int64, r smartlimit.Result, err error, took time.Duration) ProbeHealth {
	p := ProbeHealth{Script: script, Node: node, Key: key, LatencyUS: took.Microseconds()}
	switch {
	case err != nil:
		p.Error = err.Error()
	case !r.Allowed:
		// A check of cost 0 passes whatever the state.
		p.Error = fmt.Sprintf("a check of cost 0 was denied: %+v", r)
	case r.Limit != capacity || r.Remaining < 0 || r.Remaining > capacity:
		p.Error = fmt.Sprintf("reply out of range for capacity %d: %+v", capacity, r)
	default:
		p.OK = true
	}
	return p
}

// probeKeys finds, for every primary of a Cluster, a user key whose hash
// slot it serves: base, or base-N for the first N that lands there.
func probeKeys(ctx context.Context, rc rueidis.Client, base string) (map[string]string, error) {
	owners, err := slotOwners(ctx, rc)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, o := range owners {
		if o != "" {
			want[o] = true
		}
	}
	keys := map[string]string{}
	for i := 0; len(keys) < len(want) && i < 1<<16; i++ {
		k := base
		if i > 0 {
			k = base + "-" + strconv.Itoa(i)
		}
		if o := owners[smartlimit.Slot(k)]; o != "" && keys[o] == "" {
			keys[o] = k
		}
	}
	return keys, nil
}

// slotOwners reads CLUSTER SLOTS: the address of each slot's primary.
func slotOwners(ctx context.Context, rc rueidis.Client) ([]string, error) {
	ranges, err := rc.Do(ctx, rc.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, err
	}
	owners := make([]string, 16384)
	for _, r := range ranges {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			return nil, errors.New("CLUSTER SLOTS: unexpected reply")
		}
		lo, err1 := f[0].AsInt64()
		hi, err2 := f[1].AsInt64()
		p, err3 := f[2].ToArray()
		if err1 != nil || err2 != nil || err3 != nil || len(p) < 2 || lo < 0 || hi >= 16384 || lo > hi {
			return nil, errors.New("CLUSTER SLOTS: unexpected reply")
		}
		host, _ := p[0].ToString()
		port, _ := p[1].AsInt64()
		for s := lo; s <= hi; s++ {
			owners[s] = host + ":" + strconv.FormatInt(port, 10)
		}
	}
	return owners, nil
}
