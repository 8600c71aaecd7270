package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// These tests run the commands' run functions on options built by hand:
// opts → output. The binary tests in e2e_test.go cover argv → exit code.

func TestRunCheckTable(t *testing.T) {
	s := smartlimittest.New(t)
	ctx := context.Background()
	l := smartlimit.Limit{Rate: 2, Period: time.Second, Burst: 2}
	run := func(op string, cost int64) (string, error) {
		var out bytes.Buffer
		err := runCheck(ctx, s.Client, checkOptions{Op: op, Key: "alice", Limit: l, Cost: cost, Stdout: &out})
		return out.String(), err
	}
	out, err := run("check", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := `key          alice
policy       2/1s
redis key    sl:{alice}:gcra:1:500000:2:s1
cost         1
allowed      true
limit        2
remaining    1
reset after  500ms
retry after  0s
delay        0s
tier         redis
`
	if out != want {
		t.Fatalf("check output:\n%s\nwant:\n%s", out, want)
	}
	s.Advance(100 * time.Millisecond)
	if _, err := run("check", 1); err != nil {
		t.Fatal(err)
	}
	// The third request within a second of 2/s is denied: exit status 1,
	// and the table says when to retry.
	out, err = run("check", 1)
	if got := exitStatus(err); got != exitNo {
		t.Fatalf("third check: err %v (exit %d), want exit %d", err, got, exitNo)
	}
	for _, line := range []string{"allowed      false", "remaining    0", "retry after  400ms", "reset after  900ms"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("denied check output lacks %q:\n%s", line, out)
		}
	}
	// Peek says the same without consuming; reset empties the key.
	if out, err = run("peek", 0); exitStatus(err) != exitNo || !strings.Contains(out, "retry after  400ms\n") {
		t.Fatalf("peek: exit %d, output:\n%s", exitStatus(err), out)
	}
	if out, err = run("reset", 0); err != nil || !strings.Contains(out, "reset      done\n") {
		t.Fatalf("reset: %v, output:\n%s", err, out)
	}
	if out, err = run("peek", 0); err != nil || !strings.Contains(out, "remaining    2\n") {
		t.Fatalf("peek after reset: %v, output:\n%s", err, out)
	}
}

func TestRunCheckJSON(t *testing.T) {
	s := smartlimittest.New(t)
	ctx := context.Background()
	l := smartlimit.Limit{Algorithm: smartlimit.LeakyBucket, Rate: 1, Period: time.Second, Burst: 3}
	for i, want := range []ResultJSON{
		// Leaky bucket, burst 3 at 1/s: Delays 0, 1s, 2s, then a denial
		// (smartlimit.LeakyBucket's documentation).
		{Allowed: true, Limit: 3, Remaining: 2, Delay: 0},
		{Allowed: true, Limit: 3, Remaining: 1, Delay: usDuration(time.Second)},
		{Allowed: true, Limit: 3, Remaining: 0, Delay: usDuration(2 * time.Second)},
		{Allowed: false, Limit: 3, Remaining: 0, Delay: 0},
	} {
		var out bytes.Buffer
		err := runCheck(ctx, s.Client, checkOptions{Op: "check", Key: "k", Limit: l, Cost: 1, JSON: true, Stdout: &out})
		if want.Allowed != (err == nil) {
			t.Fatalf("step %d: err %v, want allowed %t", i, err, want.Allowed)
		}
		var got checkReport
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("step %d: %v in %s", i, err, out.String())
		}
		if got.Op != "check" || got.Key != "k" || got.Policy != l.String() || got.Cost != 1 || got.ResultJSON == nil {
			t.Fatalf("step %d: header %+v", i, got)
		}
		r := *got.ResultJSON
		if r.Allowed != want.Allowed || r.Limit != want.Limit || r.Remaining != want.Remaining || r.Delay != want.Delay || r.Tier != smartlimit.TierRedis {
			t.Errorf("step %d: %+v, want %+v", i, r, want)
		}
		// Every duration is a whole number of µs in a field named *_us,
		// as health --json writes them ("Hold at the edges", item 18).
		var raw map[string]any
		if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"reset_after_us", "retry_after_us", "delay_us"} {
			if v, ok := raw[f].(float64); !ok || v != float64(int64(v)) || v < 0 {
				t.Errorf("step %d: %s = %#v, want a whole number of µs", i, f, raw[f])
			}
		}
		if want := `"delay_us": 2000000,`; i == 2 && !strings.Contains(out.String(), want) {
			t.Errorf("step 2: the output lacks %s:\n%s", want, out.String())
		}
	}
	// A cost above the capacity can never pass: "never".
	var out bytes.Buffer
	err := runCheck(ctx, s.Client, checkOptions{Op: "check", Key: "big", Limit: l, Cost: 4, JSON: true, Stdout: &out})
	if exitStatus(err) != exitNo || !strings.Contains(out.String(), `"retry_after_us": "never"`) {
		t.Fatalf("cost 4 > burst 3: exit %d, output %s", exitStatus(err), out.String())
	}
}

// exitStatus is the exit status runEnv would give err.
func exitStatus(err error) int {
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	}
	return exitError
}

func TestListScripts(t *testing.T) {
	var out bytes.Buffer
	if err := runScripts(context.Background(), scriptsOptions{Action: "list", JSON: true, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	var got []ScriptJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := smartlimit.Scripts()
	if len(got) != len(want) {
		t.Fatalf("%d scripts listed, want %d", len(got), len(want))
	}
	for i, s := range want {
		if g := got[i]; g.Name != s.Name || g.Version != s.Version || g.SHA1 != s.SHA1 || g.Bytes != len(s.Source) {
			t.Errorf("script %d: %+v, want %s v%d %s %d bytes", i, g, s.Name, s.Version, s.SHA1, len(s.Source))
		}
	}
	out.Reset()
	if err := runScripts(context.Background(), scriptsOptions{Action: "show", Name: "sliding_window", Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if s, _ := findScript("sliding-window"); out.String() != s.Source || !strings.HasPrefix(s.Source, "-- smartlimit:sliding_window v") {
		t.Fatalf("show printed %d bytes, not the script's %d", out.Len(), len(s.Source))
	}
}

// startMiniredis starts a miniredis that the test stops; miniredis.RunT
// would do, but its Tester type is not testing.TB in every version.
func startMiniredis(t *testing.T) *miniredis.Miniredis {
	t.Helper()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	return mr
}

func TestScriptsVerifyAndLoad(t *testing.T) {
	mr := startMiniredis(t)
	ctx := context.Background()
	o := scriptsOptions{Redis: redisOptions{URL: "redis://" + mr.Addr()}}
	run := func(action string) (ScriptsReportJSON, error) {
		var out bytes.Buffer
		o.Action, o.JSON, o.Stdout = action, true, &out
		err := runScripts(ctx, o)
		var rep ScriptsReportJSON
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("%s: %v in %q", action, jerr, out.String())
		}
		return rep, err
	}
	rep, err := run("verify")
	if exitStatus(err) != exitNo || rep.OK || len(rep.Nodes) != 1 || len(rep.Nodes[0].Missing) != len(smartlimit.Scripts()) {
		t.Fatalf("verify on an empty server: exit %d, %+v", exitStatus(err), rep)
	}
	if rep, err = run("load"); err != nil || !rep.OK {
		t.Fatalf("load: %v, %+v", err, rep)
	}
	if rep, err = run("verify"); err != nil || !rep.OK || len(rep.Nodes[0].Missing) != 0 {
		t.Fatalf("verify after load: %v, %+v", err, rep)
	}
}

func TestHealthEmbedded(t *testing.T) {
	var out bytes.Buffer
	o := healthOptions{Redis: redisOptions{Embedded: true}, JSON: true, Timeout: 5 * time.Second,
		MaxLatency: time.Minute, MaxSkew: time.Minute, ProbeKey: defaultProbeKey, Stdout: &out}
	if err := runHealth(context.Background(), o); err != nil {
		t.Fatalf("health: %v\n%s", err, out.String())
	}
	var rep HealthJSON
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != statusHealthy || len(rep.Tiers) != 1 || rep.Tiers[0].Mode != "embedded" {
		t.Fatalf("report %+v", rep)
	}
	if got, want := len(rep.Tiers[0].Probes), len(smartlimit.Scripts()); got != want {
		t.Fatalf("%d probes, want one per script (%d)", got, want)
	}
}

func TestHealthStates(t *testing.T) {
	mr := startMiniredis(t)
	ctx := context.Background()
	health := func(url string, maxLatency time.Duration) (HealthJSON, int) {
		var out bytes.Buffer
		o := healthOptions{Redis: redisOptions{URL: url}, JSON: true, Timeout: 5 * time.Second,
			MaxLatency: maxLatency, MaxSkew: time.Minute, ProbeKey: defaultProbeKey, Stdout: &out}
		err := runHealth(ctx, o)
		var rep HealthJSON
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("%v in %q", jerr, out.String())
		}
		return rep, exitStatus(err)
	}
	// Scripts missing: degraded, and the problem says what to run.
	url := "redis://" + mr.Addr()
	rep, code := health(url, time.Minute)
	if code != exitNo || rep.Status != statusDegraded || !strings.Contains(strings.Join(rep.Tiers[0].Problems, "\n"), "scripts load") {
		t.Fatalf("before load: exit %d, %+v", code, rep)
	}
	// The probes loaded them (EVAL caches the script): healthy now.
	if rep, code = health(url, time.Minute); code != exitOK || rep.Status != statusHealthy {
		t.Fatalf("after the probes loaded the scripts: exit %d, %+v", code, rep)
	}
	// Slower than an impossible latency budget: degraded.
	if rep, code = health(url, time.Nanosecond); code != exitNo {
		t.Fatalf("with --max-latency 1ns: exit %d, %+v", code, rep)
	}
	// A server that fails every script: down.
	mr.SetError("LOADING Redis is loading the dataset in memory")
	rep, code = health(url, time.Minute)
	mr.SetError("")
	if code != exitError || rep.Status != statusDown {
		t.Fatalf("erroring server: exit %d, %+v", code, rep)
	}
	// Nothing listening: down.
	addr := mr.Addr()
	mr.Close()
	if rep, code = health("redis://"+addr, time.Minute); code != exitError || rep.Status != statusDown || len(rep.Tiers[0].Problems) == 0 {
		t.Fatalf("closed server: exit %d, %+v", code, rep)
	}
}

// TestBenchEmbedded runs bench on the embedded server, whose Client
// coalesces by default, with 16 goroutines, enough to fill the four batches
// in flight and queue more: every mode of --coalesce must decide the same.
// (That coalescing shares script calls is tested in the root module.)
func TestBenchEmbedded(t *testing.T) {
	for _, tc := range []struct {
		batch    int
		coalesce string
	}{{1, "auto"}, {1, "on"}, {1, "off"}, {7, "auto"}} {
		batch := tc.batch
		t.Run(fmt.Sprintf("batch %d coalescing %s", batch, tc.coalesce), func(t *testing.T) {
			var out bytes.Buffer
			o := benchOptions{Duration: time.Minute, MaxChecks: 210, Concurrency: 16, Keys: 5, Batch: batch, Coalesce: tc.coalesce,
				Limit: smartlimit.Limit{Rate: 10, Period: time.Hour}, JSON: true,
				Redis: redisOptions{Embedded: true}, Stdout: &out, Stderr: io.Discard}
			if err := runBench(context.Background(), o); err != nil {
				t.Fatalf("bench: %v\n%s", err, out.String())
			}
			var rep BenchJSON
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			// --max-checks stops the run at exactly 210 checks; 5 keys of
			// 10 per hour admit exactly 50 of them.
			if rep.Checks != 210 || rep.Calls != int64(210/batch) || rep.Allowed != 50 || rep.Errors != 0 {
				t.Fatalf("checks %d calls %d allowed %d errors %d, want 210 %d 50 0", rep.Checks, rep.Calls, rep.Allowed, rep.Errors, 210/batch)
			}
			l := rep.Latency
			if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
				t.Fatalf("latency quantiles out of order: %+v", l)
			}
			if rep.Redis != nil {
				t.Fatalf("redis_cpu on miniredis: %+v", rep.Redis)
			}
		})
	}
}

func TestBenchProgress(t *testing.T) {
	var out, progress bytes.Buffer
	o := benchOptions{Duration: 300 * time.Millisecond, Concurrency: 2, Keys: 3, Batch: 1, Progress: true,
		Limit: smartlimit.PerSecond(1000), Redis: redisOptions{Embedded: true}, Stdout: &out, Stderr: &progress,
		progressEvery: 20 * time.Millisecond}
	if err := runBench(context.Background(), o); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	// Not a terminal: one line per tick, none rewritten in place.
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 2 || strings.Contains(progress.String(), "\r") || !strings.Contains(lines[0], " checks ") || !strings.Contains(lines[0], "errors 0") {
		t.Fatalf("progress:\n%s", progress.String())
	}
	if !strings.Contains(out.String(), "latency per call  p50 ") {
		t.Fatalf("report:\n%s", out.String())
	}
}

func TestRedisCPU(t *testing.T) {
	before := map[string]cmdStat{"a/evalsha": {calls: 10, usec: 100}, "b/evalsha": {calls: 50, usec: 900}}
	info := "# Commandstats\r\ncmdstat_evalsha:calls=30,usec=400,usec_per_call=13.33,rejected_calls=0,failed_calls=0\r\ncmdstat_get:calls=1,usec=1\r\n"
	after := map[string]cmdStat{"a/evalsha": parseCmdStat(parseInfo(info)["cmdstat_evalsha"]), "a/eval": {calls: 2, usec: 20},
		"b/evalsha": {calls: 5, usec: 40}} // b restarted: counts from zero
	got := redisCPU(before, after, 94)
	want := RedisCPUJSON{Calls: 20 + 2 + 5, US: 300 + 20 + 40,
		NSPerCall:  13333, // 360 µs / 27 calls, rounded to ns
		NSPerCheck: 3830,  // 360 µs / 94 checks
	}
	if *got != want {
		t.Fatalf("redisCPU = %+v, want %+v", *got, want)
	}
}

func TestServeInProcess(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var out bytes.Buffer
	o := serveOptions{Addr: "127.0.0.1:0", Limit: smartlimit.Limit{Rate: 2, Period: time.Minute, Burst: 2},
		Quiet: true, Stdout: &out, Stderr: io.Discard, Ready: ready}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, o) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	}
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	var codes []int
	for range 3 {
		resp, err := hc.Get("http://" + addr + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Fatalf("status codes %v, want [200 200 429]", codes)
	}
	tr.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
	if !strings.Contains(out.String(), "listening on http://"+addr) || !strings.Contains(out.String(), "stopped") {
		t.Fatalf("output:\n%s", out.String())
	}
	waitGoroutines(t, base)
}

// waitGoroutines fails t unless the number of goroutines falls back to
// base within a few seconds: whatever a run started, it stopped.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEmbeddedTargetStops(t *testing.T) {
	base := runtime.NumGoroutine()
	tg, err := connect(context.Background(), redisOptions{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Embedded == nil || tg.Redis.Mode() != rueidis.ClientModeStandalone {
		t.Fatalf("embedded target: %v, mode %s", tg.Embedded, tg.Redis.Mode())
	}
	if m, err := smartlimit.MissingScripts(context.Background(), tg.Redis); err != nil || len(m) != 0 {
		t.Fatalf("embedded server starts without scripts: %v %v", m, err)
	}
	tg.Close()
	waitGoroutines(t, base)
}

func TestParseInfo(t *testing.T) {
	// Over RESP3, INFO and CLUSTER INFO are verbatim strings that rueidis
	// returns with their "txt:" prefix; CLUSTER INFO's first line is a
	// field, so the prefix hid cluster_state (found on a real Cluster).
	kv := parseInfo("txt:cluster_state:ok\r\ncluster_slots_assigned:16384\r\n")
	if got, want := kv["cluster_state"], "ok"; got != want {
		t.Errorf("cluster_state = %q, want %q", got, want)
	}
	kv = parseInfo("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Clients\r\nconnected_clients:1\r\n")
	if kv["redis_version"] != "7.0.15" || kv["redis_mode"] != "standalone" || kv["connected_clients"] != "1" || len(kv) != 3 {
		t.Errorf("parseInfo = %v", kv)
	}
}

// TestCheckConcurrencyLease checks that check of a Concurrency limit
// prints the ID of the lease it took and that release gives that lease
// back ("Hold at the edges", item 18: the lease used to have an ID nobody
// saw, so its slot stayed taken until it expired).
func TestCheckConcurrencyLease(t *testing.T) {
	s := smartlimittest.New(t)
	ctx := context.Background()
	l := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: 10 * time.Minute}
	check := func() (checkReport, error) {
		t.Helper()
		var out bytes.Buffer
		err := runCheck(ctx, s.Client, checkOptions{Op: "check", Key: "job", Limit: l, Cost: 1, JSON: true, Stdout: &out})
		var rep checkReport
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("check: %v in %q", jerr, out.String())
		}
		return rep, err
	}
	release := func(id string, json bool) (string, error) {
		var out bytes.Buffer
		err := runRelease(ctx, s.Client, checkOptions{Op: "release", Key: "job", LeaseID: id, Limit: l, JSON: json, Stdout: &out})
		return out.String(), err
	}

	first, err := check()
	if err != nil || first.LeaseID == "" {
		t.Fatalf("first check: err %v, lease %q; want allowed with a lease ID", err, first.LeaseID)
	}
	if second, err := check(); exitStatus(err) != exitNo || second.LeaseID != "" {
		t.Fatalf("second check of 1 in flight: exit %d, lease %q; want denied, no lease", exitStatus(err), second.LeaseID)
	}
	out, err := release(first.LeaseID, false)
	if err != nil || !regexp.MustCompile(`\nlease +`+first.LeaseID+`\nreleased +true\n`).MatchString(out) {
		t.Fatalf("release: %v, output:\n%s", err, out)
	}
	third, err := check()
	if err != nil || third.LeaseID == "" || third.LeaseID == first.LeaseID {
		t.Fatalf("check after release: err %v, lease %q (first %q); want allowed with a new lease", err, third.LeaseID, first.LeaseID)
	}
	// Releasing what is not held says so, with exit status 1.
	out, err = release(first.LeaseID, true)
	if exitStatus(err) != exitNo || !strings.Contains(out, `"released": false`) {
		t.Fatalf("second release of one lease: exit %d, output:\n%s", exitStatus(err), out)
	}
	// The table of an allowed check shows the lease too.
	if _, err := release(third.LeaseID, false); err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	if err := runCheck(ctx, s.Client, checkOptions{Op: "check", Key: "job", Limit: l, Cost: 1, Stdout: &tab}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`\nlease +[0-9a-f]{32}\n`).MatchString(tab.String()) {
		t.Errorf("check table lacks the lease:\n%s", tab.String())
	}
}
