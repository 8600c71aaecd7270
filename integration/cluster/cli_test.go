package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCLI runs the smartlimit binary and returns its stdout and exit status.
func runCLI(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("smartlimit %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	return "", -1
}

// TestCLI runs the operator's tool against the real Cluster: health sees
// every primary and cluster_state ok, scripts verify fails on a node whose
// cache was flushed and passes after scripts load, and check decides.
func TestCLI(t *testing.T) {
	ctx := context.Background()
	cl := cluster.Get(t)
	bin := filepath.Join(t.TempDir(), "smartlimit")
	// The command is a module of its own (cmd/smartlimit/go.mod), which
	// this module does not require: build it in its directory, which works
	// in the workspace (go.work) and without it.
	if out, err := exec.Command("go", "build", "-C", filepath.Join("..", "..", "cmd", "smartlimit"), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A Cluster URL as rueidis.ParseURL reads it: one seed in the host,
	// the others as addr parameters.
	url := "redis://" + cl.Addrs[0] + "?addr=" + strings.Join(cl.Addrs[1:], "&addr=")
	// A prefix of this run's own, for clusters that outlive it
	// (SMARTLIMIT_REDIS_CLUSTER_ADDRS).
	prefix := "cli" + strconv.FormatInt(time.Now().UnixNano(), 36)

	if out, code := runCLI(t, bin, "scripts", "load", "--redis", url); code != 0 {
		t.Fatalf("scripts load: exit %d\n%s", code, out)
	}
	out, code := runCLI(t, bin, "health", "--json", "--redis", url)
	var h struct {
		Status string `json:"status"`
		Tiers  []struct {
			Mode         string `json:"mode"`
			ClusterState string `json:"cluster_state"`
			Nodes        []struct {
				Addr           string   `json:"addr"`
				Role           string   `json:"role"`
				MissingScripts []string `json:"missing_scripts"`
			} `json:"nodes"`
			Probes []struct {
				Script string `json:"script"`
				Node   string `json:"node"`
				OK     bool   `json:"ok"`
			} `json:"probes"`
		} `json:"tiers"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("health --json: %v\n%s", err, out)
	}
	if code != 0 || h.Status != "healthy" || len(h.Tiers) != 1 || h.Tiers[0].Mode != "cluster" || h.Tiers[0].ClusterState != "ok" {
		t.Fatalf("health: exit %d, %+v", code, h)
	}
	primaries, probedNodes := 0, map[string]bool{}
	for _, n := range h.Tiers[0].Nodes {
		if n.Role == "primary" {
			primaries++
		}
		if len(n.MissingScripts) != 0 {
			t.Errorf("node %s misses %v after scripts load", n.Addr, n.MissingScripts)
		}
	}
	for _, p := range h.Tiers[0].Probes {
		if !p.OK {
			t.Errorf("probe %s on %s failed", p.Script, p.Node)
		}
		probedNodes[p.Node] = true
	}
	if primaries != 3 || len(probedNodes) != 3 {
		t.Errorf("health saw %d primaries and probed %d nodes, want 3 and 3", primaries, len(probedNodes))
	}

	// Flush one node's script cache: verify fails (exit 1), health says
	// degraded (exit 1), load mends it.
	rc := cl.Client(t)
	node := rc.Nodes()[cl.Addrs[1]]
	if err := node.Do(ctx, node.B().ScriptFlush().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, bin, "scripts", "verify", "--redis", url); code != 1 || !strings.Contains(out, cl.Addrs[1]) {
		t.Errorf("scripts verify after SCRIPT FLUSH on %s: exit %d, want 1\n%s", cl.Addrs[1], code, out)
	}
	if _, code := runCLI(t, bin, "scripts", "load", "--redis", url); code != 0 {
		t.Errorf("scripts load: exit %d", code)
	}
	if out, code := runCLI(t, bin, "scripts", "verify", "--redis", url); code != 0 {
		t.Errorf("scripts verify after load: exit %d\n%s", code, out)
	}

	// check: 2/m allows twice, then denies with exit 1; JSON has every field.
	for i, want := range []int{0, 0, 1} {
		out, code := runCLI(t, bin, "check", "cli-user", "--limit", "2/m", "--json", "--redis", url, "--prefix", prefix)
		var r struct {
			Allowed   bool  `json:"allowed"`
			Remaining int64 `json:"remaining"`
			Limit     int64 `json:"limit"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != want || r.Limit != 2 || r.Remaining != int64(1-min(i, 1)) || r.Allowed != (want == 0) {
			t.Errorf("check %d: exit %d (want %d), %+v, %v\n%s", i, code, want, r, err, out)
		}
	}

	// peek reports the denial without consuming; reset forgets the key.
	if out, code := runCLI(t, bin, "peek", "cli-user", "--limit", "2/m", "--redis", url, "--prefix", prefix); code != 1 || !strings.Contains(out, "remaining    0") {
		t.Errorf("peek after two checks: exit %d, want 1\n%s", code, out)
	}
	if out, code := runCLI(t, bin, "reset", "cli-user", "--limit", "2/m", "--redis", url, "--prefix", prefix); code != 0 {
		t.Errorf("reset: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, bin, "peek", "cli-user", "--limit", "2/m", "--redis", url, "--prefix", prefix); code != 0 || !strings.Contains(out, "remaining    2") {
		t.Errorf("peek after reset: exit %d, want 0 and remaining 2\n%s", code, out)
	}

	// bench, batched, over every node: checks made, none failed, Redis CPU
	// read from every node's commandstats.
	out, code = runCLI(t, bin, "bench", "--duration", "1s", "--batch", "50", "--keys", "500", "--json", "--redis", url)
	var b struct {
		Checks   int64 `json:"checks"`
		Errors   int64 `json:"errors"`
		RedisCPU *struct {
			Calls int64 `json:"calls"`
		} `json:"redis_cpu"`
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil || code != 0 || b.Checks == 0 || b.Errors != 0 || b.RedisCPU == nil || b.RedisCPU.Calls == 0 {
		t.Errorf("bench: exit %d, %+v, %v\n%s", code, b, err, out)
	}

	testServe(t, bin, url, prefix)
}

var listenRE = regexp.MustCompile(`listening on http://(\S+)`)

// testServe runs the demo server on the Cluster: two requests pass, the
// third gets 429 with the rate-limit headers, and SIGTERM stops it cleanly.
func testServe(t *testing.T, bin, url, prefix string) {
	cmd := exec.Command(bin, "serve", "--redis", url, "--prefix", prefix, "--addr", "127.0.0.1:0", "--limit", "2/m")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc, exited := make(chan string, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		cmd.Process.Kill() // a no-op once it has exited
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		t.Fatalf("serve exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not print its address in 30 s")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for i, want := range []int{200, 200, 429} {
		resp, err := hc.Get("http://" + addr + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("RateLimit-Policy") == "" || resp.Header.Get("RateLimit") == "" {
			t.Errorf("request %d: %d, RateLimit-Policy %q, RateLimit %q; want %d with both", i, resp.StatusCode, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), want)
		}
		if want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop within 30 s of SIGTERM")
	}
}
