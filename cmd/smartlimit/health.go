package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// healthOptions are the options of health.
type healthOptions struct {
	Redis      redisOptions
	Mongo      mongoOptions // URI "" means no mongo tier
	JSON       bool
	Timeout    time.Duration // for the whole check
	MaxLatency time.Duration // a slower PING or probe is degraded
	MaxSkew    time.Duration // a larger clock skew between nodes is degraded
	// MaxExpired: on a server that refuses TTL indexes, a document expired
	// longer ago than this means cleanup is not running: degraded.
	MaxExpired time.Duration
	ProbeKey   string

	Stdout io.Writer
}

// Defaults of health's flags.
const (
	defaultHealthTimeout = 5 * time.Second
	defaultMaxLatency    = 100 * time.Millisecond
	// Redis TIME is the clock of every check, so nodes that disagree make a
	// key's limit jump when its slot moves; 500ms is far beyond NTP's usual
	// error and well below a typical period.
	defaultMaxSkew = 500 * time.Millisecond
	// Cleanup run every few minutes, as mongostore.Store.Cleanup advises,
	// leaves no document expired for an hour.
	defaultMaxExpired = time.Hour
	defaultProbeKey   = "smartlimit-health-probe"
)

// Health states, from best to worst; a report's state is its worst tier's.
const (
	statusHealthy  = "healthy"
	statusDegraded = "degraded"
	statusDown     = "down"
)

func worse(a, b string) string {
	rank := map[string]int{statusHealthy: 0, statusDegraded: 1, statusDown: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func newHealthCmd(o *healthOptions) *command {
	c := &command{
		UsageLine: "health [--json] [--timeout D] [--max-latency D] [--max-skew D] [--redis URL] [--mongo URI]",
		Short:     "check every configured tier",
		Long: `Health checks every configured tier and says whether rate limiting works.

For the Redis tier it checks, on every node (each primary and replica of a
Cluster): that it answers PING, and how fast; its version, role and mode
(standalone, Cluster with cluster_state, Sentinel); that every script is
loaded (SCRIPT EXISTS); and the clock skew between nodes (TIME), since Redis
TIME is the clock of every check. Then it runs a real check through every
script, on a probe key served by each primary: one AllowN of cost 0, which
consumes nothing. A PING-only check would miss a NOSCRIPT outage. (A probe
whose script is missing loads it, by the EVAL fallback every check has; the
report still says it was missing.)

With --mongo (or SMARTLIMIT_MONGO_URI) it checks the MongoDB tier too, in
the collection --mongo-db and --mongo-collection name: that the server
answers ping, and how fast; its version (buildInfo); that the collection has
a TTL index on expireAt, which deletes the documents of idle limits (without
one: degraded; run "smartlimit mongo indexes"; where the server refuses TTL
indexes, run "smartlimit mongo cleanup" periodically instead, and health is
degraded only when a document expired more than --max-expired ago); and one
check of cost 0 per algorithm on the probe key, through the tier's own code,
which reads the collection and writes nothing. The tiers are checked at the
same time, each within --timeout.

The status is "healthy", "degraded" (it works, but: scripts missing on a
node, a node unreachable, cluster_state not ok, latency above --max-latency,
clock skew above --max-skew, neither a TTL index nor cleanup) or "down"
(checks fail, or no server answers); the report's status is its worst
tier's. The exit status is 0 healthy, 1 degraded, 2 down, so that health can
serve as a Kubernetes probe:

	livenessProbe:
	  exec: {command: ["smartlimit", "health"]}`,
		Flag: flagSet("health"),
	}
	c.Flag.BoolVar(&o.JSON, "json", false, "print JSON instead of tables")
	c.Flag.DurationVar(&o.Timeout, "timeout", defaultHealthTimeout, "give up after this `duration` in all")
	c.Flag.DurationVar(&o.MaxLatency, "max-latency", defaultMaxLatency, "a PING or probe slower than this `duration` is degraded")
	c.Flag.DurationVar(&o.MaxSkew, "max-skew", defaultMaxSkew, "a clock skew between nodes above this `duration` is degraded")
	c.Flag.DurationVar(&o.MaxExpired, "max-expired", defaultMaxExpired, "on a MongoDB-wire server that refuses TTL indexes, a document expired longer ago than this `duration` is degraded (cleanup is not running)")
	c.Flag.StringVar(&o.ProbeKey, "probe-key", defaultProbeKey, "the user `key` the probes check (with a suffix per primary)")
	c.bindEnv("timeout", "SMARTLIMIT_HEALTH_TIMEOUT")
	addRedisFlags(c, &o.Redis, false)
	addMongoFlags(c, &o.Mongo, "of a mongo tier to check too; without it, none is checked")
	c.Args = func(args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if err := o.Mongo.check(false); err != nil {
			return err
		}
		if o.Timeout <= 0 {
			return usagef("--timeout must be positive")
		}
		if o.MaxExpired < 0 {
			return usagef("--max-expired must not be negative")
		}
		if err := smartlimit.CheckRequest(o.ProbeKey, smartlimit.PerSecond(1), 0); err != nil {
			return &usageError{fmt.Errorf("--probe-key: %w", err)}
		}
		return o.Redis.check(c)
	}
	c.Run = func(ctx context.Context) error { return runHealth(ctx, *o) }
	return c
}

// HealthJSON is what "health --json" prints.
type HealthJSON struct {
	Status string       `json:"status"` // healthy, degraded or down
	Tiers  []TierHealth `json:"tiers"`
}

// TierHealth is the health of one tier.
type TierHealth struct {
	Tier   string `json:"tier"` // smartlimit.TierRedis, smartlimit.TierMongo
	Status string `json:"status"`
	Target string `json:"target"`
	// Collection is the mongo tier's "database.collection".
	Collection string `json:"collection,omitempty"`
	// Mode is "standalone", "cluster", "sentinel" or "embedded".
	Mode         string `json:"mode,omitempty"`
	ClusterState string `json:"cluster_state,omitempty"`

	// Version, LatencyUS and TTLIndex belong to a tier that is one server
	// to this tool, the mongo tier; a Redis tier has its own per node, in
	// Nodes.

	// Version is the server's version, as buildInfo reports it; "(FerretDB
	// VERSION)" follows when the server is FerretDB.
	Version string `json:"version,omitempty"`
	// LatencyUS is one ping round trip; nil when no server answered.
	LatencyUS *int64 `json:"latency_us,omitempty"`
	// TTLIndex reports whether the collection has a TTL index on expireAt;
	// nil when that is not known.
	TTLIndex *bool `json:"ttl_index,omitempty"`

	// ClockSkewUS is the largest difference between two nodes' clocks.
	ClockSkewUS int64         `json:"clock_skew_us"`
	Nodes       []NodeHealth  `json:"nodes"`
	Probes      []ProbeHealth `json:"probes"`
	Problems    []string      `json:"problems"` // never null
}

// NodeHealth is one Redis node.
type NodeHealth struct {
	Addr      string `json:"addr"`
	Reachable bool   `json:"reachable"`
	Role      string `json:"role,omitempty"` // primary or replica
	Version   string `json:"version,omitempty"`
	LatencyUS int64  `json:"latency_us"` // one PING round trip
	// ClockOffsetUS is the node's TIME minus this machine's clock at the
	// middle of the round trip.
	ClockOffsetUS  int64    `json:"clock_offset_us"`
	MissingScripts []string `json:"missing_scripts"`
	Error          string   `json:"error,omitempty"`

	clockKnown bool // TIME answered; ClockOffsetUS is measured
}

// ProbeHealth is one probe: a check of cost 0 through one script (on the
// mongo tier, through one algorithm).
type ProbeHealth struct {
	// Script is the script, or, on the mongo tier, the algorithm (they
	// share their names).
	Script    string `json:"script"`
	Node      string `json:"node,omitempty"` // the primary that serves the probe key
	Key       string `json:"key"`
	OK        bool   `json:"ok"`
	LatencyUS int64  `json:"latency_us"`
	Error     string `json:"error,omitempty"`
}

// runHealth checks every tier, prints the report and returns
// exitCode(1) when degraded, exitCode(2) when down.
func runHealth(ctx context.Context, o healthOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	rep := HealthJSON{Status: statusHealthy}
	// One entry per configured tier, checked at the same time, so that a
	// tier that hangs until the timeout leaves the others theirs.
	checks := []func(context.Context, healthOptions) TierHealth{checkRedisTier}
	if o.Mongo.URI != "" {
		checks = append(checks, checkMongoTier)
	}
	rep.Tiers = make([]TierHealth, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { rep.Tiers[i] = check(ctx, o) })
	}
	wg.Wait()
	for _, th := range rep.Tiers {
		rep.Status = worse(rep.Status, th.Status)
	}
	if o.JSON {
		if err := writeJSON(o.Stdout, rep); err != nil {
			return err
		}
	} else {
		printHealth(o.Stdout, rep)
	}
	switch rep.Status {
	case statusDegraded:
		return exitCode(exitNo)
	case statusDown:
		return exitCode(exitError)
	}
	return nil
}

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

func printHealth(w io.Writer, rep HealthJSON) {
	fmt.Fprintf(w, "status: %s\n", rep.Status)
	for _, th := range rep.Tiers {
		fmt.Fprintf(w, "\n%s tier: %s\n", th.Tier, th.Status)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  target\t%s\n", th.Target)
		if th.Collection != "" {
			fmt.Fprintf(tw, "  collection\t%s\n", th.Collection)
		}
		if th.Version != "" {
			fmt.Fprintf(tw, "  version\t%s\n", th.Version)
		}
		if th.LatencyUS != nil {
			fmt.Fprintf(tw, "  ping\t%v\n", time.Duration(*th.LatencyUS)*time.Microsecond)
		}
		if th.TTLIndex != nil {
			ttl := "on expireAt"
			if !*th.TTLIndex {
				ttl = "missing"
			}
			fmt.Fprintf(tw, "  ttl index\t%s\n", ttl)
		}
		if th.Mode != "" {
			mode := th.Mode
			if th.ClusterState != "" {
				mode += " (cluster_state " + th.ClusterState + ")"
			}
			fmt.Fprintf(tw, "  mode\t%s\n", mode)
		}
		if len(th.Nodes) > 1 {
			fmt.Fprintf(tw, "  clock skew\t%v\n", time.Duration(th.ClockSkewUS)*time.Microsecond)
		}
		tw.Flush()
		if len(th.Nodes) > 0 {
			fmt.Fprintln(w)
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  NODE\tROLE\tVERSION\tPING\tCLOCK OFFSET\tSCRIPTS")
			for _, n := range th.Nodes {
				if !n.Reachable {
					fmt.Fprintf(tw, "  %s\tunreachable\t\t\t\t\n", n.Addr)
					continue
				}
				scripts := "all loaded"
				if len(n.MissingScripts) > 0 {
					scripts = strconv.Itoa(len(n.MissingScripts)) + " missing"
				}
				role := n.Role
				if role == "" {
					role = "-"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%v\t%+.3fms\t%s\n", n.Addr, role, n.Version,
					time.Duration(n.LatencyUS)*time.Microsecond, float64(n.ClockOffsetUS)/1000, scripts)
			}
			tw.Flush()
		}
		if len(th.Probes) > 0 {
			fmt.Fprintln(w)
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			// Probes name their node on a tier of nodes (Redis), not on
			// one that is a single server to this tool (mongo).
			nodes := len(th.Nodes) > 0
			if nodes {
				fmt.Fprintln(tw, "  PROBE\tKEY\tNODE\tRESULT\tLATENCY")
			} else {
				fmt.Fprintln(tw, "  PROBE\tKEY\tRESULT\tLATENCY")
			}
			for _, p := range th.Probes {
				res := "ok"
				if !p.OK {
					res = "FAIL: " + p.Error
				}
				if !nodes {
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%v\n", p.Script, p.Key, res, time.Duration(p.LatencyUS)*time.Microsecond)
					continue
				}
				node := p.Node
				if node == "" {
					node = "-"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%v\n", p.Script, p.Key, node, res, time.Duration(p.LatencyUS)*time.Microsecond)
			}
			tw.Flush()
		}
		if len(th.Problems) > 0 {
			fmt.Fprintln(w, "\n  problems:")
			for _, p := range th.Problems {
				fmt.Fprintf(w, "  - %s\n", p)
			}
		}
	}
}
