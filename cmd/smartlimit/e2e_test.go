package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/httplimit"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// The tests in this file build the smartlimit binary once and run it as an
// operator would: argv in, exit status and output out.

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary builds the command once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	build.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			build.err = err
			return
		}
		if build.dir, build.err = os.MkdirTemp("", "smartlimit-cmd-test-"); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "smartlimit")
		out, err := exec.Command(gobin, "build", "-o", build.path, ".").CombinedOutput()
		if err != nil {
			build.err = errors.New(string(out))
		}
	})
	if build.err != nil {
		t.Fatalf("building smartlimit: %v", build.err)
	}
	return build.path
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// runBin runs the binary with args, with the environment cleared of
// SMARTLIMIT_ variables and extended by env ("K=V").
func runBin(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running smartlimit %q: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SMARTLIMIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// want fails t unless r exited with code.
func (r result) want(t *testing.T, code int, what string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
	return r
}

// decode parses r's stdout as JSON into v.
func (r result) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("%v in stdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
}

func TestBinaryUsage(t *testing.T) {
	runBin(t, nil, "--help").want(t, exitOK, "--help")
	runBin(t, nil, "help", "bench").want(t, exitOK, "help bench")
	runBin(t, nil).want(t, exitError, "no command")
	runBin(t, nil, "nosuch").want(t, exitError, "unknown command")
	runBin(t, nil, "check", "k").want(t, exitError, "check without --limit")
	runBin(t, []string{"SMARTLIMIT_LIMIT=10/s"}, "check", "k", "--redis", "ftp://x").want(t, exitError, "bad URL")
}

// TestBinaryDown runs health and check against a port where nothing
// listens.
func TestBinaryDown(t *testing.T) {
	url := "redis://127.0.0.1:" + itoa(int64(redistest.FreePort(t)))
	r := runBin(t, nil, "health", "--json", "--redis", url).want(t, exitError, "health of nothing")
	var rep HealthJSON
	r.decode(t, &rep)
	if rep.Status != statusDown || len(rep.Tiers) != 1 || rep.Tiers[0].Status != statusDown || len(rep.Tiers[0].Problems) == 0 {
		t.Fatalf("health of nothing: %+v", rep)
	}
	runBin(t, []string{"SMARTLIMIT_REDIS_URL=" + url}, "check", "k", "--limit", "1/s").want(t, exitError, "check on nothing")
}

func TestBinaryMiniredis(t *testing.T) {
	mr := startMiniredis(t)
	testBinaryOn(t, "redis://"+mr.Addr())
}

func TestBinaryRedis(t *testing.T) {
	srv := redistest.Start(t)
	url := "redis://" + srv.Addr
	testBinaryOn(t, url)

	var rep HealthJSON
	runBin(t, nil, "health", "--json", "--max-latency", "1m", "--redis", url).want(t, exitOK, "health").decode(t, &rep)
	tier := rep.Tiers[0]
	if tier.Mode != "standalone" || len(tier.Nodes) != 1 || tier.Nodes[0].Version == "unknown" || tier.Nodes[0].Role != "primary" {
		t.Fatalf("health of a standalone redis-server: %+v", tier)
	}

	// Bench on a real server reports the scripts' Redis CPU time.
	var b BenchJSON
	runBin(t, nil, "bench", "--json", "--redis", url, "--duration", "20s", "--max-checks", "3000",
		"--concurrency", "4", "--batch", "10").want(t, exitOK, "bench").decode(t, &b)
	if b.Checks != 3000 || b.Calls != 300 || b.Errors != 0 || b.Redis == nil {
		t.Fatalf("bench: %+v", b)
	}
	// One script call per batch of 10 on a standalone server, give or
	// take the first calls of a cold script cache.
	if c := b.Redis; c.Calls < 300 || c.Calls > 310 || c.NSPerCheck <= 0 || c.NSPerCall < c.NSPerCheck {
		t.Fatalf("bench redis_cpu: %+v", *c)
	}
}

// testBinaryOn runs scripts, check, peek, reset and health on the Redis at
// url, which starts empty.
func testBinaryOn(t *testing.T, url string) {
	env := []string{"SMARTLIMIT_REDIS_URL=" + url}
	nscripts := len(smartlimit.Scripts())

	var rep ScriptsReportJSON
	runBin(t, env, "scripts", "verify", "--json").want(t, exitNo, "verify on an empty server").decode(t, &rep)
	if rep.OK || len(rep.Nodes) != 1 || len(rep.Nodes[0].Missing) != nscripts {
		t.Fatalf("verify on an empty server: %+v", rep)
	}
	runBin(t, env, "scripts", "load").want(t, exitOK, "load")
	runBin(t, env, "scripts", "verify", "--json").want(t, exitOK, "verify after load").decode(t, &rep)
	if !rep.OK || len(rep.Nodes[0].Missing) != 0 {
		t.Fatalf("verify after load: %+v", rep)
	}

	// --max-latency 1m: on a loaded machine a probe can take more than
	// the default 100ms, which is degraded, not what this test is about.
	var h HealthJSON
	runBin(t, env, "health", "--json", "--max-latency", "1m").want(t, exitOK, "health after load").decode(t, &h)
	if h.Status != statusHealthy || len(h.Tiers[0].Probes) != nscripts {
		t.Fatalf("health after load: %+v", h)
	}

	flushScripts(t, url)
	r := runBin(t, env, "scripts", "verify").want(t, exitNo, "verify after SCRIPT FLUSH")
	if !strings.Contains(r.stdout, "scripts load") {
		t.Fatalf("verify after SCRIPT FLUSH does not say what to do:\n%s", r.stdout)
	}
	runBin(t, env, "scripts", "load").want(t, exitOK, "load after SCRIPT FLUSH")
	runBin(t, env, "scripts", "verify").want(t, exitOK, "verify after load")

	// check: 0 allowed, 1 denied; the --redis flag beats the variable.
	args := []string{"check", "bob", "--limit", "2/m fixed_window", "--json", "--redis", url}
	badEnv := []string{"SMARTLIMIT_REDIS_URL=redis://127.0.0.1:1"}
	for i, want := range []int{exitOK, exitOK, exitNo} {
		var cr checkReport
		runBin(t, badEnv, args...).want(t, want, "check "+itoa(int64(i))).decode(t, &cr)
		if cr.ResultJSON == nil || cr.Allowed != (want == exitOK) || cr.Limit != 2 || cr.Remaining != int64(max(1-i, 0)) || cr.Tier != smartlimit.TierRedis {
			t.Fatalf("check %d: %+v %+v", i, cr, cr.ResultJSON)
		}
	}
	runBin(t, env, "peek", "bob", "--limit", "2/m", "--algorithm", "fixed_window").want(t, exitNo, "peek of a spent key")
	runBin(t, env, "reset", "bob", "--limit", "2/m fixed_window").want(t, exitOK, "reset")
	runBin(t, env, "peek", "bob", "--limit", "2/m fixed_window").want(t, exitOK, "peek after reset")

	// A concurrency check prints its lease; release gives it back, once.
	conc := []string{"--limit", "1/10m concurrency", "--json"}
	var lease checkReport
	runBin(t, env, append([]string{"check", "job"}, conc...)...).want(t, exitOK, "concurrency check").decode(t, &lease)
	if lease.LeaseID == "" {
		t.Fatalf("concurrency check printed no lease: %+v", lease)
	}
	runBin(t, env, append([]string{"check", "job"}, conc...)...).want(t, exitNo, "concurrency check while held")
	runBin(t, env, append([]string{"release", "job", lease.LeaseID}, conc...)...).want(t, exitOK, "release")
	runBin(t, env, append([]string{"release", "job", lease.LeaseID}, conc...)...).want(t, exitNo, "release again")
	runBin(t, env, append([]string{"check", "job"}, conc...)...).want(t, exitOK, "concurrency check after release")
}

// flushScripts sends SCRIPT FLUSH to every node of url.
func flushScripts(t *testing.T, url string) {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for addr, n := range rc.Nodes() {
		if err := n.Do(context.Background(), n.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatalf("SCRIPT FLUSH on %s: %v", addr, err)
		}
	}
}

var listenRE = regexp.MustCompile(`listening on http://(\S+)`)

func TestBinaryServe(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { testServe(t, sig) })
	}
}

func testServe(t *testing.T, sig syscall.Signal) {
	cmd := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0", "--limit", "3/m")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	var rest bytes.Buffer // stdout after the address line
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
			rest.WriteString(sc.Text() + "\n")
		}
		exited <- cmd.Wait() // after stdout is drained, as Wait requires
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default: // the test failed before the process stopped
			cmd.Process.Kill()
			<-done
		}
	})
	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		t.Fatalf("serve exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not print its address in 30s")
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	get := func(path string) (*http.Response, string) {
		resp, err := hc.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	var codes []int
	for len(codes) < 10 {
		resp, body := get("/hello")
		codes = append(codes, resp.StatusCode)
		for _, h := range []string{httplimit.HeaderRateLimit, httplimit.HeaderRateLimitPolicy} {
			if resp.Header.Get(h) == "" {
				t.Errorf("request %d: no %s header: %v", len(codes), h, resp.Header)
			}
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 with Retry-After %q", ra)
			}
			break
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"message":"hello"`) {
			t.Fatalf("request %d: %d %q", len(codes), resp.StatusCode, body)
		}
	}
	if got, want := len(codes), 4; got != want || codes[want-1] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v: want 3 × 200 then 429 under 3/m", codes)
	}

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve after %v: %v\nstderr:\n%s", sig, err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop within 15s of %v", sig)
	}
	out := rest.String()
	if !strings.Contains(out, " 429 ") || !strings.Contains(out, "stopped") {
		t.Fatalf("serve's log lacks the 429 or the stop:\n%s", out)
	}
}
