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
	{"gcra", 2, "74c73c7dd7d6f16031fb4cfa1fd4240a17927eb7"},
	{"token_bucket", 2, "eed5159865d46166128923c0d55ef369166d9002"},
	{"fixed_window", 2, "f48a18090828cc5415dfbaf47257469f9deafb0a"},
	{"sliding_window", 2, "69028b90af7dfd477afc39be01c580440891b7c6"},
	{"sliding_window_counter", 2, "cb5e144a495445dc1ecda751b6484441d342399d"},
	{"leaky_bucket", 2, "096c5ec9f144471c0c42a557d86cca8b0166c835"},
	{"concurrency", 2, "235c949d2221bb43a668739a8464d75d3a305a39"},
	{"multi", 2, "4f339ecb71eea3eeb57458eae41164599c434211"},
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
