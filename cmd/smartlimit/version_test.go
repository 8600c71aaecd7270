package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion checks what version reads from the build information: the
// module's version, the library's (replaced, as in a clone), and the VCS
// revision ("Hold at the edges", item 18).
func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/smartlimit/smartlimit/cmd/smartlimit", Version: "v0.3.0"},
		Deps: []*debug.Module{
			{Path: "github.com/redis/rueidis", Version: "v1.0.79"},
			{Path: "github.com/smartlimit/smartlimit", Version: "v0.0.0", Replace: &debug.Module{Path: "../.."}},
		},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "859d126aa07e3b9e0c1f0b6f0b1bda1b0c5e5f00"},
			{Key: "vcs.time", Value: "2026-12-04T18:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	info := func() (*debug.BuildInfo, bool) { return bi, true }

	var out bytes.Buffer
	if err := runVersion(versionOptions{Stdout: &out, BuildInfo: info}); err != nil {
		t.Fatal(err)
	}
	want := `smartlimit  github.com/smartlimit/smartlimit/cmd/smartlimit v0.3.0
library     github.com/smartlimit/smartlimit v0.0.0 => ../..
revision    859d126aa07e3b9e0c1f0b6f0b1bda1b0c5e5f00 2026-12-04T18:00:00Z, with uncommitted changes
go          go1.26.8 linux/arm64
`
	if out.String() != want {
		t.Errorf("version:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if err := runVersion(versionOptions{JSON: true, Stdout: &out, BuildInfo: info}); err != nil {
		t.Fatal(err)
	}
	var got VersionJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	wantJSON := VersionJSON{
		Module: "github.com/smartlimit/smartlimit/cmd/smartlimit", Version: "v0.3.0", Library: "v0.0.0 => ../..",
		Revision: "859d126aa07e3b9e0c1f0b6f0b1bda1b0c5e5f00", RevisionTime: "2026-12-04T18:00:00Z", Modified: true,
		Go: "go1.26.8", Platform: "linux/arm64",
	}
	if got != wantJSON {
		t.Errorf("version --json = %+v, want %+v", got, wantJSON)
	}

	// A build without VCS information (go run, -buildvcs=false) says so.
	bi.Settings = nil
	out.Reset()
	if err := runVersion(versionOptions{Stdout: &out, BuildInfo: info}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "revision    unknown (not recorded") {
		t.Errorf("version without VCS information:\n%s", out.String())
	}
}

// TestVersionCommand runs "smartlimit version" on this test binary's own
// build information, which always has the Go version.
func TestVersionCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runEnv(context.Background(), []string{"version"}, &stdout, &stderr, env(nil)); code != exitOK {
		t.Fatalf("version: exit %d, stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "\ngo          go1.") {
		t.Errorf("version output lacks the Go version:\n%s", stdout.String())
	}
}
