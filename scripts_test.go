package smartlimit_test

import (
	"strings"
	"testing"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// manifest pins every script's SHA1 at its version. A script whose source
// changes must get a new version (in its lua/NAME.lua header, or
// multiVersion in scripts.go for "multi"): the version is part of every key,
// so new code never reads state an old script wrote, and old and new
// versions can run side by side during a rolling deploy. Shared files
// (lua/_lib.lua, lua/_run.lua) change every script.
var manifest = []struct {
	name    string
	version int
	sha1    string
}{
	{"gcra", 4, "be9a454eb4c8cf0222e20e349512fc0d5cb62842"},
	{"token_bucket", 4, "ec34833163db43025744b6c6bb5ef7332b0c4f4f"},
	{"fixed_window", 4, "7b9915fd9c5ba5a637e1d2fe323ddfc719f9513d"},
	{"sliding_window", 4, "fef412b89c031607475d7fd9656b23269de5a0ab"},
	{"sliding_window_counter", 4, "f9dbd873f89a33af20cfbb23736d9d8ce2dc59c8"},
	{"leaky_bucket", 4, "7dbbf9775491e2f3bc2b2abeeef1d85a3f926713"},
	{"concurrency", 4, "5ebbf3c8191fabb07b52b9e98b60dc60d5ffa12a"},
	{"multi", 4, "d345f94a7af4d741f138cb45a73f9e1ea67a83b3"},
}

func TestManifest(t *testing.T) {
	got := smartlimit.Scripts()
	if len(got) != len(manifest) {
		t.Fatalf("%d scripts, manifest pins %d", len(got), len(manifest))
	}
	for i, m := range manifest {
		s := got[i]
		if s.Name != m.name {
			t.Errorf("script %d is %q, manifest says %q", i, s.Name, m.name)
			continue
		}
		if s.Version == m.version && s.SHA1 != m.sha1 {
			t.Errorf("%s v%d changed (SHA1 %s, pinned %s): bump its version, then pin the new SHA1 here", s.Name, s.Version, s.SHA1, m.sha1)
		}
		if s.Version != m.version {
			t.Errorf("%s is v%d, manifest pins v%d: pin SHA1 %s for v%d", s.Name, s.Version, m.version, s.SHA1, s.Version)
		}
		if want := "-- smartlimit:" + s.Name + " v"; !strings.HasPrefix(s.Source, want) {
			t.Errorf("%s source starts %q, want the header %q", s.Name, s.Source[:40], want)
		}
	}
	for i, a := range allAlgorithms() {
		s, err := smartlimit.ScriptFor(a)
		if err != nil || s.Name != a.String() || s.SHA1 != got[i].SHA1 {
			t.Errorf("ScriptFor(%v) = %s, %v", a, s.Name, err)
		}
	}
}

// Redis computes the same SHA1s: LoadScripts checks what SCRIPT LOAD
// answers against them.
func TestLoadScriptsSHA(t *testing.T) {
	s := smartlimittest.New(t)
	if err := smartlimit.LoadScripts(ctx, s.Redis); err != nil {
		t.Fatal(err)
	}
}
