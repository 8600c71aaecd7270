package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/cmd/smartlimit/internal/histogram"
)

// benchOptions are the options of bench.
type benchOptions struct {
	Duration    time.Duration
	MaxChecks   int64 // stop after this many checks; 0: only Duration stops
	Concurrency int
	Keys        int
	Batch       int    // checks per call: 1 uses AllowN, more use AllowMany
	Coalesce    string // auto, on or off: whether concurrent AllowN calls share script calls
	Limit       smartlimit.Limit
	Redis       redisOptions
	JSON        bool
	Progress    bool // a progress line on Stderr every second

	Stdout, Stderr io.Writer

	progressEvery time.Duration // 0: every second; tests make it shorter
}

// Defaults and bounds of bench's flags.
const (
	defaultBenchDuration    = 10 * time.Second
	defaultBenchConcurrency = 8
	defaultBenchKeys        = 1000
	defaultBenchLimit       = "100/s"
	maxBenchConcurrency     = 10_000
	maxBenchBatch           = 10_000
	maxBenchKeys            = 10_000_000
)

func newBenchCmd(o *benchOptions) *command {
	c := &command{
		UsageLine: "bench [--duration D] [--concurrency N] [--keys N] [--limit L] [--batch N] [--redis URL] [--json]",
		Short:     "generate load and measure checks/s and latency",
		Long: `Bench is a load generator for capacity planning. --concurrency goroutines
check --keys keys, round robin, under --limit, for --duration (or until
--max-checks checks), one AllowN per call, or --batch checks per AllowMany
call. The keys are fresh for every run.

At the end it prints checks per second, the latency of a call (p50, p90, p99,
p99.9, from a log-linear histogram with 1/128 resolution), the share of
checks allowed, and errors. On a real Redis it also reads INFO commandstats
before and after, on every node, and prints the Redis CPU time of the
scripts (EVALSHA and EVAL) per call and per check: what caps throughput.
Other clients' scripts during the run count too.

It runs on an embedded miniredis unless --redis (or SMARTLIMIT_REDIS_URL)
names a server; miniredis runs the scripts in Go, in this process, so its
figures say little about Redis.

While it runs, a progress line goes to stderr once a second when stderr is a
terminal, or with --progress. The exit status is 1 when any check failed.`,
		Flag: flagSet("bench"),
	}
	c.Flag.DurationVar(&o.Duration, "duration", defaultBenchDuration, "run for this `duration`")
	c.Flag.Int64Var(&o.MaxChecks, "max-checks", 0, "stop after `N` checks, rounded down to whole batches (0: run for --duration)")
	c.Flag.IntVar(&o.Concurrency, "concurrency", defaultBenchConcurrency, "`N` goroutines, each with one call in flight")
	c.Flag.IntVar(&o.Keys, "keys", defaultBenchKeys, "check `N` distinct keys")
	c.Flag.IntVar(&o.Batch, "batch", 1, "`N` checks per call: 1 calls AllowN, more call AllowMany")
	c.Flag.StringVar(&o.Coalesce, "coalesce", "auto", "whether concurrent checks share script calls: `auto` (the Client's default: on unless on a Cluster), on or off")
	var lf limitFlags
	addLimitFlags(c, &lf, defaultBenchLimit, "")
	c.Flag.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	c.Flag.BoolVar(&o.Progress, "progress", false, "print progress to stderr even when it is not a terminal")
	addRedisFlags(c, &o.Redis, true)
	c.Args = func(args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		switch {
		case o.Duration <= 0:
			return usagef("--duration must be positive")
		case o.MaxChecks < 0:
			return usagef("--max-checks must not be negative")
		case o.Concurrency < 1 || o.Concurrency > maxBenchConcurrency:
			return usagef("--concurrency must be 1 to %d", maxBenchConcurrency)
		case o.Keys < 1 || o.Keys > maxBenchKeys:
			return usagef("--keys must be 1 to %d", maxBenchKeys)
		case o.Batch < 1 || o.Batch > maxBenchBatch:
			return usagef("--batch must be 1 to %d", maxBenchBatch)
		case o.Coalesce != "auto" && o.Coalesce != "on" && o.Coalesce != "off":
			return usagef("--coalesce must be auto, on or off")
		}
		var err error
		if o.Limit, err = lf.Limit(); err != nil {
			return err
		}
		if !o.Progress {
			o.Progress = isTerminal(o.Stderr)
		}
		return o.Redis.check(c)
	}
	c.Run = func(ctx context.Context) error { return runBench(ctx, *o) }
	return c
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// BenchJSON is what "bench --json" prints. Durations are whole numbers in
// the unit their name ends in, as in every JSON output of the command.
type BenchJSON struct {
	Target      string `json:"target"`
	Policy      string `json:"policy"`
	Concurrency int    `json:"concurrency"`
	Keys        int    `json:"keys"`
	Batch       int    `json:"batch"`
	ElapsedUS   int64  `json:"elapsed_us"`
	Checks      int64  `json:"checks"`
	Calls       int64  `json:"calls"`
	ChecksPerS  int64  `json:"checks_per_sec"` // rounded
	Allowed     int64  `json:"allowed"`
	// AllowedPct is a percentage, the one fraction of the report.
	AllowedPct float64 `json:"allowed_pct"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	// Latency of one call (a batch of Batch checks), in microseconds.
	Latency LatencyJSON `json:"latency_us"`
	// Redis is the scripts' CPU time from INFO commandstats; absent on the
	// embedded miniredis.
	Redis *RedisCPUJSON `json:"redis_cpu,omitempty"`
}

// LatencyJSON holds latency quantiles in whole microseconds (rounded; the
// histogram is within 1/128 of a recorded value anyway).
type LatencyJSON struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
	Mean int64 `json:"mean"`
}

// RedisCPUJSON is the Redis CPU time of EVALSHA and EVAL during a run,
// summed over every node. The averages are in nanoseconds: a check costs a
// few microseconds, which whole microseconds would blur.
type RedisCPUJSON struct {
	Calls      int64 `json:"calls"`
	US         int64 `json:"us"`
	NSPerCall  int64 `json:"ns_per_call"`
	NSPerCheck int64 `json:"ns_per_check"`
}

// benchCounters are shared by the workers and read by the progress line.
type benchCounters struct {
	checks, calls, allowed, errors atomic.Int64
	firstErr                       atomic.Pointer[string]
}

// runBench runs the load and prints the results; it returns exitCode(1)
// when any check failed.
func runBench(ctx context.Context, o benchOptions) error {
	t, err := connect(ctx, o.Redis, true)
	if err != nil {
		return err
	}
	defer t.Close()
	// Load the scripts first, so the run measures EVALSHA, not the first
	// EVAL of each.
	if err := smartlimit.LoadScripts(ctx, t.Redis); err != nil {
		return err
	}
	lim := t.Client
	if o.Coalesce == "on" || o.Coalesce == "off" {
		prefix := o.Redis.Prefix
		if prefix == "" {
			prefix = smartlimit.DefaultPrefix
		}
		co := smartlimit.WithoutCoalescing()
		if o.Coalesce == "on" {
			co = smartlimit.WithCoalescing(0)
		}
		if lim, err = smartlimit.New(t.Redis, smartlimit.WithPrefix(prefix), co); err != nil {
			return err
		}
	}
	var before map[string]cmdStat
	if t.Embedded == nil {
		if before, err = commandStats(ctx, t.Redis); err != nil {
			fmt.Fprintf(o.Stderr, "smartlimit bench: no Redis CPU figures: %v\n", err)
		}
	}
	if !o.JSON {
		coalesce := o.Coalesce
		if coalesce == "auto" || coalesce == "" {
			coalesce = "auto: on"
			if t.Redis.Mode() == rueidis.ClientModeCluster {
				coalesce = "auto: off"
			}
		}
		fmt.Fprintf(o.Stdout, "bench: %v, %d goroutines, %d keys, %s (%s), batch %d, coalescing %s, on %s\n",
			o.Duration, o.Concurrency, o.Keys, o.Limit, o.Limit.Algorithm, o.Batch, coalesce, t.Name)
	}

	keys := make([]string, o.Keys)
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // fresh keys for every run
	for i := range keys {
		keys[i] = "bench-" + run + "-" + strconv.Itoa(i)
	}
	var cnt benchCounters
	hists := make([]*histogram.Histogram, o.Concurrency)
	// The run's end stops the workers from starting checks and never
	// reaches the checks in flight, which finish and count. Passed to
	// them, the run's deadline failed them, and ctx.Err() could not tell
	// that from a real failure: a coalesced batch's or rueidis' connection
	// deadline fires before the run's own timer does. A Redis that stalls
	// at the end holds the run until rueidis gives up on the connection
	// (ConnWriteTimeout), and those checks are failures.
	stop, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		hists[w] = new(histogram.Histogram)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			benchWorker(ctx, stop.Done(), lim, o, keys, w, hists[w], &cnt)
		}(w)
	}
	stopProgress := func() {}
	if o.Progress {
		every := o.progressEvery
		if every <= 0 {
			every = time.Second
		}
		stopProgress = startProgress(o.Stderr, start, every, &cnt)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	var h histogram.Histogram
	for _, wh := range hists {
		h.Merge(wh)
	}
	rep := BenchJSON{
		Target: t.Name, Policy: o.Limit.String(), Concurrency: o.Concurrency, Keys: o.Keys, Batch: o.Batch,
		ElapsedUS: elapsed.Microseconds(), Checks: cnt.checks.Load(), Calls: cnt.calls.Load(),
		Allowed: cnt.allowed.Load(), Errors: cnt.errors.Load(),
		Latency: LatencyJSON{
			P50: us(h.Quantile(0.5)), P90: us(h.Quantile(0.9)), P99: us(h.Quantile(0.99)),
			P999: us(h.Quantile(0.999)), Max: us(h.Max()), Mean: us(h.Mean()),
		},
	}
	if p := cnt.firstErr.Load(); p != nil {
		rep.FirstError = *p
	}
	if elapsed > 0 {
		rep.ChecksPerS = int64(math.Round(float64(rep.Checks) / elapsed.Seconds()))
	}
	if rep.Checks > 0 {
		rep.AllowedPct = 100 * float64(rep.Allowed) / float64(rep.Checks)
	}
	if before != nil {
		// A fresh context: ctx may have ended (Ctrl-C), and the figures of
		// the run so far are still worth printing.
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		after, err := commandStats(sctx, t.Redis)
		scancel()
		if err != nil {
			fmt.Fprintf(o.Stderr, "smartlimit bench: no Redis CPU figures: %v\n", err)
		} else {
			rep.Redis = redisCPU(before, after, rep.Checks)
		}
	}
	if o.JSON {
		if err := writeJSON(o.Stdout, rep); err != nil {
			return err
		}
	} else {
		printBench(o.Stdout, rep)
	}
	if rep.Errors > 0 {
		return exitCode(exitNo)
	}
	return nil
}

// benchWorker makes calls under ctx until stop is closed, ctx ends or the
// run has made o.MaxChecks checks (in whole batches).
func benchWorker(ctx context.Context, stop <-chan struct{}, c *smartlimit.Client, o benchOptions,
	keys []string, w int, h *histogram.Histogram, cnt *benchCounters) {
	reqs := make([]smartlimit.Request, o.Batch)
	next := w % len(keys)
	for ctx.Err() == nil {
		select {
		case <-stop:
			return
		default:
		}
		if o.MaxChecks > 0 {
			// Claim the checks before making them, so the total never
			// passes MaxChecks. The other workers finish the calls they
			// claimed: cancelling ctx here would cut them off.
			if cnt.checks.Add(int64(o.Batch)) > o.MaxChecks {
				cnt.checks.Add(-int64(o.Batch))
				return
			}
		}
		for i := range reqs {
			reqs[i] = smartlimit.Request{Key: keys[next], Limit: o.Limit, Cost: 1}
			next = (next + o.Concurrency) % len(keys)
		}
		start := time.Now()
		var allowed int64
		var err error
		if o.Batch == 1 {
			var r smartlimit.Result
			r, err = c.AllowN(ctx, reqs[0].Key, o.Limit, 1)
			if r.Allowed {
				allowed = 1
			}
		} else {
			var rs []smartlimit.Result
			rs, err = c.AllowMany(ctx, reqs)
			for _, r := range rs {
				if r.Allowed {
					allowed++
				}
			}
		}
		took := time.Since(start)
		if err != nil && ctx.Err() != nil {
			// The run was cancelled (Ctrl-C) during the call: not a
			// failure. Cancellation sets ctx.Err() before the call sees it.
			if o.MaxChecks > 0 {
				cnt.checks.Add(-int64(o.Batch))
			}
			return
		}
		h.Record(took)
		if o.MaxChecks == 0 {
			cnt.checks.Add(int64(o.Batch))
		}
		cnt.calls.Add(1)
		cnt.allowed.Add(allowed)
		if err != nil {
			cnt.errors.Add(1)
			msg := err.Error()
			cnt.firstErr.CompareAndSwap(nil, &msg)
		}
	}
}

// startProgress prints a progress line to w every interval until the
// returned function is called. On a terminal the line is rewritten in
// place; elsewhere each is a line of its own.
func startProgress(w io.Writer, start time.Time, every time.Duration, cnt *benchCounters) (stop func()) {
	inPlace := isTerminal(w)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		var last int64
		lastAt := start
		for {
			select {
			case <-done:
				if inPlace {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-tick.C:
				n := cnt.checks.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				pct := 0.0
				if n > 0 {
					pct = 100 * float64(cnt.allowed.Load()) / float64(n)
				}
				line := fmt.Sprintf("%5.1fs  %d checks  %.0f/s  allowed %.1f%%  errors %d",
					now.Sub(start).Seconds(), n, rate, pct, cnt.errors.Load())
				if inPlace {
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func us(d time.Duration) int64 { return d.Round(time.Microsecond).Microseconds() }

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct{ calls, usec int64 }

// scriptCommands are the commands whose CPU time bench reports.
var scriptCommands = []string{"evalsha", "eval"}

// commandStats reads INFO commandstats on every node of rc and returns,
// per "node/command", the calls and CPU microseconds of the script
// commands.
func commandStats(ctx context.Context, rc rueidis.Client) (map[string]cmdStat, error) {
	out := map[string]cmdStat{}
	for addr, node := range rc.Nodes() {
		info, err := node.Do(ctx, node.B().Info().Section("commandstats").Build()).ToString()
		if err != nil {
			return nil, fmt.Errorf("INFO commandstats on %s: %w", addr, err)
		}
		for k, v := range parseInfo(info) {
			name, ok := strings.CutPrefix(k, "cmdstat_")
			if !ok {
				continue
			}
			for _, want := range scriptCommands {
				if name == want {
					out[addr+"/"+name] = parseCmdStat(v)
				}
			}
		}
	}
	return out, nil
}

// parseCmdStat reads "calls=N,usec=N,usec_per_call=F,...".
func parseCmdStat(v string) cmdStat {
	var s cmdStat
	for _, f := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "calls":
			s.calls = n
		case "usec":
			s.usec = n
		}
	}
	return s
}

// redisCPU is the difference of two commandStats, per call and per check.
// A node restarted in between (counters went down) counts from zero.
func redisCPU(before, after map[string]cmdStat, checks int64) *RedisCPUJSON {
	var r RedisCPUJSON
	names := make([]string, 0, len(after))
	for k := range after {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		a, b := after[k], before[k]
		if a.calls < b.calls {
			b = cmdStat{}
		}
		r.Calls += a.calls - b.calls
		r.US += a.usec - b.usec
	}
	if r.Calls > 0 {
		r.NSPerCall = (1000*r.US + r.Calls/2) / r.Calls
	}
	if checks > 0 {
		r.NSPerCheck = (1000*r.US + checks/2) / checks
	}
	return &r
}

func printBench(w io.Writer, r BenchJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "checks\t%d in %.2fs = %d checks/s\n", r.Checks, float64(r.ElapsedUS)/1e6, r.ChecksPerS)
	fmt.Fprintf(tw, "calls\t%d (batch %d)\n", r.Calls, r.Batch)
	fmt.Fprintf(tw, "allowed\t%.1f%% (%d)\n", r.AllowedPct, r.Allowed)
	errs := strconv.FormatInt(r.Errors, 10)
	if r.FirstError != "" {
		errs += " (first: " + r.FirstError + ")"
	}
	fmt.Fprintf(tw, "errors\t%s\n", errs)
	l := r.Latency
	fmt.Fprintf(tw, "latency per call\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max), fmtUS(l.Mean))
	if c := r.Redis; c != nil {
		fmt.Fprintf(tw, "redis CPU\t%.2fµs per script call, %.2fµs per check (%d EVALSHA/EVAL, INFO commandstats; other clients count too)\n",
			float64(c.NSPerCall)/1000, float64(c.NSPerCheck)/1000, c.Calls)
	}
	tw.Flush()
}

func fmtUS(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
