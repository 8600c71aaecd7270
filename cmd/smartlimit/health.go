package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

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
