package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
)

// versionOptions are the options of version.
type versionOptions struct {
	JSON bool

	Stdout io.Writer
	// BuildInfo returns the binary's build information; nil means
	// debug.ReadBuildInfo. Tests pass their own.
	BuildInfo func() (*debug.BuildInfo, bool)
}

// libraryPath is the module of the engine that the command embeds.
const libraryPath = "github.com/smartlimit/smartlimit"

func newVersionCmd(o *versionOptions) *command {
	c := &command{
		UsageLine: "version [--json]",
		Short:     "print the command's version and VCS revision",
		Long: `Version prints what the binary was built from, as the Go toolchain
recorded it: the command module's version, the version of the smartlimit
library in it (whose scripts and key names it uses), the VCS revision and
its time, whether the tree had uncommitted changes, and the Go version.

A binary built by "go install" or "go build" from a clone carries the
revision; "go run", a build with -buildvcs=false, and a tree the go
command does not see as a repository do not, and version says so.`,
		Flag: flagSet("version"),
	}
	c.Flag.BoolVar(&o.JSON, "json", false, "print JSON")
	c.Run = func(ctx context.Context) error { return runVersion(*o) }
	return c
}

// VersionJSON is what "version --json" prints.
type VersionJSON struct {
	// Module is the command's module path and Version its version: a
	// tag, a pseudo-version or "(devel)".
	Module  string `json:"module"`
	Version string `json:"version"`
	// Library is the version of the smartlimit module built in; a
	// replaced module reads "VERSION => PATH".
	Library string `json:"library"`
	// Revision and RevisionTime (RFC 3339) are the VCS commit, empty when
	// the build recorded none; Modified reports whether the tree had
	// uncommitted changes.
	Revision     string `json:"revision"`
	RevisionTime string `json:"revision_time"`
	Modified     bool   `json:"modified"`
	Go           string `json:"go"` // the toolchain, e.g. go1.26.0
	Platform     string `json:"platform"`
}

// runVersion prints the build information of the binary.
func runVersion(o versionOptions) error {
	read := o.BuildInfo
	if read == nil {
		read = debug.ReadBuildInfo
	}
	bi, ok := read()
	if !ok {
		return fmt.Errorf("the binary has no build information (built without module support)")
	}
	v := versionOf(bi)
	if o.JSON {
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "smartlimit\t%s %s\n", v.Module, v.Version)
	fmt.Fprintf(tw, "library\t%s %s\n", libraryPath, v.Library)
	switch {
	case v.Revision == "":
		fmt.Fprintf(tw, "revision\tunknown (not recorded: go run, -buildvcs=false, or no repository)\n")
	case v.Modified:
		fmt.Fprintf(tw, "revision\t%s %s, with uncommitted changes\n", v.Revision, v.RevisionTime)
	default:
		fmt.Fprintf(tw, "revision\t%s %s\n", v.Revision, v.RevisionTime)
	}
	fmt.Fprintf(tw, "go\t%s %s\n", v.Go, v.Platform)
	return tw.Flush()
}

// versionOf extracts VersionJSON from bi.
func versionOf(bi *debug.BuildInfo) VersionJSON {
	v := VersionJSON{
		Module: bi.Main.Path, Version: bi.Main.Version, Library: "(not built in)",
		Go: bi.GoVersion, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	for _, d := range bi.Deps {
		if d.Path != libraryPath {
			continue
		}
		v.Library = d.Version
		if r := d.Replace; r != nil {
			v.Library += " => " + r.Path
			if r.Version != "" {
				v.Library += " " + r.Version
			}
		}
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.RevisionTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		v.Platform = goos + "/" + goarch
	}
	return v
}
