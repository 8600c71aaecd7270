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
	{"gcra", 1, "4b1a2e9b3e24793736f04e003f0f5ea8bffb45c7"},
	{"token_bucket", 1, "86c8de46d69c7cf0c9bcac0673f1e75ea10becb4"},
	{"fixed_window", 1, "0264c42398cdb48e0d0c5e9202358a12e91977cc"},
	{"sliding_window", 1, "79494d39cdd4df3ff16fcdce2d3109e24dafbee1"},
	{"sliding_window_counter", 1, "3571775a2287e96b8321129aee14168edb3a8934"},
	{"leaky_bucket", 1, "f0e35b5f41f0ff88f3bb6369506fe68e3a02008a"},
	{"concurrency", 1, "cdc39f764ff00de9834ceedffbfdad54554ffe46"},
	{"multi", 1, "44842eae4477e5a5f385bed29e663357c59723a5"},
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
