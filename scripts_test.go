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
	{"gcra", 4, "17a1ab2fc1acfaffbfa6d114971e556cbaf56858"},
	{"token_bucket", 4, "f4511083664af0823657d4f9db5ee3818891b702"},
	{"fixed_window", 4, "efae3b1f6050e169033af92eba8dc9639950ba5d"},
	{"sliding_window", 4, "d3a0df0f35b4117d3031ef51794d3b776db11a48"},
	{"sliding_window_counter", 4, "b85d906322a5f2347dc1b0ad926a51e6b3012ced"},
	{"leaky_bucket", 4, "a7fcd1a3118d081280bcd56cad9d3ff5d3128f17"},
	{"concurrency", 4, "6eb972cb65867eee3dff74b0d2bb3bd2c15e4cf2"},
	{"multi", 4, "fb457358ec99443a461382e340aa77310cd0736c"},
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
