package smartlimit_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// manifest pins every script's SHA1 at its version, and its state format.
// A script whose source changes must get a new version (in its lua/NAME.lua
// header, or multiVersion in scripts.go for "multi"); shared files
// (lua/_lib.lua, lua/_run.lua) change every script. A script that reads or
// writes its state differently must also get a new state format (the sN in
// its header), which is part of every key, so that new code never reads
// state an old format wrote; one that keeps the format keeps every key and
// count, and old and new versions share them during a rolling deploy.
var manifest = []struct {
	name    string
	version int
	state   int
	sha1    string
}{
	{"gcra", 5, 1, "8c67d882569107032efd780f43c590f62bfa7911"},
	{"token_bucket", 5, 1, "014ad038c0d37268e088793e92afb73f405322d7"},
	{"fixed_window", 5, 1, "b2211bb303f5e28822a22b0d56842b9fbef737b2"},
	{"sliding_window", 5, 1, "cbbc78c40b02b7512a4ce6d05421e6b3bf03bdff"},
	{"sliding_window_counter", 5, 1, "ae6ebb3eb4f5371ebaa4586b0469503fdb6fefa9"},
	{"leaky_bucket", 5, 1, "bee186000c78706856b30f8b7cba75ad65a20a39"},
	{"concurrency", 5, 1, "8b37cd94d754dca14d743062277022f1f2b2a1d4"},
	{"multi", 5, 0, "801b27f8d6a0cc5d26942755f24f366bf449d90c"},
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
		if s.State != m.state {
			t.Errorf("%s has state format s%d, manifest pins s%d: a new format means new keys for every limit; pin it if that is meant", s.Name, s.State, m.state)
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

// The algorithm codes are one table: Algorithm's constants, which
// internal/algo's Kind shares, are the n of ALG[n] in each algorithm's Lua
// file, and the names agree.
func TestAlgorithmCodes(t *testing.T) {
	assign := regexp.MustCompile(`(?m)^ALG\[(\d+)\] =`)
	for _, a := range allAlgorithms() {
		src, err := os.ReadFile("lua/" + a.String() + ".lua")
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, m := range assign.FindAllStringSubmatch(string(src), -1) {
			codes = append(codes, m[1])
		}
		if want := []string{strconv.Itoa(int(a))}; !slices.Equal(codes, want) {
			t.Errorf("lua/%s.lua assigns ALG%v, want ALG%v: the code of %v", a, codes, want, a)
		}
		if k := algo.Kind(a); k.String() != a.String() || !k.Valid() {
			t.Errorf("algo.Kind(%d) is %q, smartlimit.Algorithm(%d) %q", a, k, a, a)
		}
	}
	if k := algo.Kind(len(allAlgorithms())); k.Valid() {
		t.Errorf("algo.Kind(%d) is valid, but smartlimit has %d algorithms", k, len(allAlgorithms()))
	}
}
