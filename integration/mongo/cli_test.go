package mongo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/mongostore"
)

// buildCLI builds the smartlimit command into a temporary directory. The
// command is a module of its own (cmd/smartlimit/go.mod), which this
// module does not require: it is built in its directory, which works in
// the workspace (go.work) and without it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "smartlimit")
	if out, err := exec.Command("go", "build", "-C", filepath.Join("..", "..", "cmd", "smartlimit"), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cli runs the smartlimit binary and returns its stdout and exit status;
// it fails t when the binary cannot run. Every run's output is logged, so
// that "go test -v" shows what an operator would see.
func cli(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("smartlimit %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	t.Logf("$ smartlimit %s\n%s%sexit %d", strings.Join(args, " "), out.String(), errOut.String(), code)
	return out.String(), code
}

// healthJSON is the part of "smartlimit health --json" this test reads.
type healthJSON struct {
	Status string `json:"status"`
	Tiers  []struct {
		Tier       string   `json:"tier"`
		Status     string   `json:"status"`
		Collection string   `json:"collection"`
		Version    string   `json:"version"`
		LatencyUS  *int64   `json:"latency_us"`
		TTLIndex   *bool    `json:"ttl_index"`
		Problems   []string `json:"problems"`
		Probes     []struct {
			Script string `json:"script"`
			Key    string `json:"key"`
			OK     bool   `json:"ok"`
			Error  string `json:"error"`
		} `json:"probes"`
	} `json:"tiers"`
}

// TestCLI runs "smartlimit health --mongo" and "smartlimit mongo indexes /
// cleanup" against the server: the mongo tier appears in the report, its
// probes pass and write nothing, the TTL index is reported missing until
// "mongo indexes" makes one, and cleanup deletes what has expired.
func TestCLI(t *testing.T) {
	srv := startServer(t)
	bin := buildCLI(t)
	coll := srv.Collection()
	ns := coll.Database().Name() + "." + coll.Name()
	target := []string{"--mongo", srv.URI, "--mongo-db", coll.Database().Name(), "--mongo-collection", coll.Name()}
	// The Redis tier is an embedded miniredis: this test is about the
	// mongo tier. Latency limits are generous, for a loaded machine; the
	// status must not depend on it.
	health := func() (healthJSON, int) {
		t.Helper()
		args := append([]string{"health", "--json", "--embedded", "--timeout", "30s", "--max-latency", "1m"}, target...)
		out, code := cli(t, bin, args...)
		var h healthJSON
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("health --json: %v\n%s", err, out)
		}
		if len(h.Tiers) != 2 || h.Tiers[0].Tier != smartlimit.TierRedis || h.Tiers[1].Tier != smartlimit.TierMongo {
			t.Fatalf("health tiers %+v, want redis then mongo", h.Tiers)
		}
		m := h.Tiers[1]
		if m.Collection != ns || m.Version == "" || m.Version == "unknown" || m.LatencyUS == nil || m.TTLIndex == nil {
			t.Fatalf("mongo tier %+v, want its collection %s, version, ping and TTL index", m, ns)
		}
		if srv.Ferret && !strings.Contains(m.Version, "FerretDB") {
			t.Errorf("version %q does not say FerretDB", m.Version)
		}
		var algos []string
		for _, p := range m.Probes {
			if !p.OK || p.Key != "smartlimit-health-probe" {
				t.Errorf("probe %+v, want ok on the probe key", p)
			}
			algos = append(algos, p.Script)
		}
		if want := []string{"gcra", "token_bucket", "fixed_window", "sliding_window", "sliding_window_counter", "leaky_bucket", "concurrency"}; strings.Join(algos, " ") != strings.Join(want, " ") {
			t.Errorf("probes %v, want one per algorithm %v", algos, want)
		}
		return h, code
	}

	// A new collection has no TTL index (it does not even exist yet):
	// degraded, and the problem says what to run.
	h, code := health()
	m := h.Tiers[1]
	if code != 1 || h.Status != "degraded" || m.Status != "degraded" || *m.TTLIndex ||
		!strings.Contains(strings.Join(m.Problems, "\n"), `run "smartlimit mongo indexes"`) {
		t.Fatalf("health before indexes: exit %d, %+v", code, h)
	}
	// The probes are checks of cost 0: they wrote nothing.
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("documents after the probes: %d, %v; want 0", n, err)
	}

	// cleanup (before the TTL index exists, so that a MongoDB TTL monitor
	// cannot delete the documents first): documents of limits that are
	// back to full, written by a clock an hour ago, go; a day limit's,
	// written now, stays.
	past, err := mongostore.New(coll, mongostore.Options{Clock: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	now, err := mongostore.New(coll, mongostore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		allowN(t, past, k, smartlimit.PerSecond(10), 1)
	}
	allowN(t, now, "d", smartlimit.PerDay(10), 1)
	out, code := cli(t, bin, append([]string{"mongo", "cleanup"}, target...)...)
	if want := ns + ": deleted 3 expired documents\n"; code != 0 || out != want {
		t.Fatalf("mongo cleanup: exit %d, %q; want 0, %q", code, out, want)
	}
	out, code = cli(t, bin, append([]string{"mongo", "cleanup", "--json"}, target...)...)
	var cl struct {
		Collection string `json:"collection"`
		Deleted    *int64 `json:"deleted"`
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil || code != 0 || cl.Collection != ns || cl.Deleted == nil || *cl.Deleted != 0 {
		t.Fatalf("second mongo cleanup --json: exit %d, %q (%v); want 0 deleted", code, out, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("documents after cleanup: %d, %v; want 1 (the day limit's)", n, err)
	}

	// indexes: MongoDB creates the TTL index. FerretDB v1 refuses TTL
	// indexes (NotImplemented); mongostore then makes an ordinary index on
	// expireAt, and the command says so and exits 0, because nothing more
	// can be done on that server than running cleanup periodically.
	type indexesJSON struct {
		Collection string   `json:"collection"`
		TTLIndex   bool     `json:"ttl_index"`
		TTLRefused string   `json:"ttl_refused"`
		Created    []string `json:"created"`
		Indexes    []string `json:"indexes"`
	}
	want := mongostore.TTLIndexName
	if srv.Ferret {
		want = mongostore.PlainIndexName
	}
	out, code = cli(t, bin, append([]string{"mongo", "indexes"}, target...)...)
	if code != 0 || !strings.Contains(out, "created "+want) {
		t.Fatalf("mongo indexes: exit %d, %q; want 0 and %s created", code, out, want)
	}
	if srv.Ferret && !strings.Contains(out, `run "smartlimit mongo cleanup"`) {
		t.Errorf("mongo indexes on FerretDB: %q does not tell to run cleanup", out)
	}
	// On a collection that does not exist yet, only that index is new
	// (the _id_ index comes with the collection).
	fresh := srv.Collection()
	out, code = cli(t, bin, "mongo", "indexes", "--json", "--mongo", srv.URI, "--mongo-db", fresh.Database().Name(), "--mongo-collection", fresh.Name())
	var ix indexesJSON
	if err := json.Unmarshal([]byte(out), &ix); err != nil || code != 0 || strings.Join(ix.Created, ",") != want {
		t.Errorf("mongo indexes --json on a new collection: exit %d, %q (%v); want %s created", code, out, err, want)
	}
	// Again, as JSON: nothing more to create.
	out, code = cli(t, bin, append([]string{"mongo", "indexes", "--json"}, target...)...)
	ix = indexesJSON{}
	if err := json.Unmarshal([]byte(out), &ix); err != nil || code != 0 || ix.Collection != ns {
		t.Fatalf("mongo indexes --json: exit %d, %q (%v)", code, out, err)
	}
	if len(ix.Created) != 0 || !strings.Contains(strings.Join(ix.Indexes, ","), want) {
		t.Errorf("second mongo indexes: created %v, indexes %v; want nothing created, %s there", ix.Created, ix.Indexes, want)
	}
	if srv.Ferret {
		if ix.TTLIndex || !strings.Contains(ix.TTLRefused, "NotImplemented") {
			t.Errorf("mongo indexes on FerretDB: %+v, want the TTL index refused, with the server's reason", ix)
		}
	} else if !ix.TTLIndex || ix.TTLRefused != "" {
		t.Errorf("mongo indexes on MongoDB: %+v, want a TTL index", ix)
	}

	// health again: on MongoDB healthy, with its TTL index. FerretDB has
	// none and can have none: cleanup keeps the collection clean instead,
	// so health is healthy while no document has waited for it longer than
	// --max-expired (1h; the one document left expires in a day), and
	// degraded once one has: cleanup is not running.
	h, code = health()
	m = h.Tiers[1]
	if srv.Ferret {
		if code != 0 || h.Status != "healthy" || *m.TTLIndex || len(m.Problems) != 0 {
			t.Errorf("health after indexes on FerretDB, nothing expired: exit %d, %+v", code, h)
		}
		longAgo, err := mongostore.New(coll, mongostore.Options{Clock: func() time.Time { return time.Now().Add(-3 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		allowN(t, longAgo, "e", smartlimit.PerSecond(10), 1) // expired 3h ago
		h, code = health()
		m = h.Tiers[1]
		if code != 1 || m.Status != "degraded" || *m.TTLIndex || len(m.Problems) != 1 ||
			!strings.Contains(m.Problems[0], "the server refused one") || !strings.Contains(m.Problems[0], "expired more than 1h0m0s ago") ||
			!strings.Contains(m.Problems[0], `run "smartlimit mongo cleanup" periodically`) {
			t.Errorf("health on FerretDB with a document expired 3h ago: exit %d, %+v", code, h)
		}
	} else if code != 0 || h.Status != "healthy" || !*m.TTLIndex || len(m.Problems) != 0 {
		t.Errorf("health after indexes: exit %d, %+v", code, h)
	}

	// The tables, for people (and for "go test -v", which logs them).
	args := append([]string{"health", "--embedded", "--timeout", "30s", "--max-latency", "1m"}, target...)
	out, _ = cli(t, bin, args...)
	for _, line := range []string{"mongo tier: ", "  collection  " + ns, "  ttl index   ", "  gcra  "} {
		if !strings.Contains(out, line) {
			t.Errorf("health table lacks %q:\n%s", line, out)
		}
	}
}
