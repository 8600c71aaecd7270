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
	{"gcra", 3, "9d8c16da5c3cc1eab06af89134529d5820807d4c"},
	{"token_bucket", 3, "74eebaf3ed12164a859ada16fa742e2003231d25"},
	{"fixed_window", 3, "9ed9ceaf1a5a35197b465695a8bbbd08e6aed45e"},
	{"sliding_window", 3, "8672e94bfe44d75932633c52e8db340f4bf125a4"},
	{"sliding_window_counter", 3, "b7302b49105fb71768427a3a099b403d708e5463"},
	{"leaky_bucket", 3, "bd46f50da1004e0a9ea1180f6f35d47297e2542b"},
	{"concurrency", 3, "dd6c8ea6d2675b79f49edc4e4f3d5debee6aab63"},
	{"multi", 3, "8d96e2dded8d831d4169e601f6f4e85e6b660a30"},
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
