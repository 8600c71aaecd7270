package smartlimit

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

//go:embed lua/*.lua
var luaFS embed.FS

// Script is one of the embedded Lua scripts: an algorithm's "command", or
// "multi", which holds every algorithm for all-or-nothing checks and for
// batches that mix algorithms. (Every script runs batches of its own
// algorithms; a batch of one algorithm runs in that algorithm's script.)
//
// A script's source is lua/_lib.lua, its algorithm files and lua/_run.lua,
// joined after a header line "-- smartlimit:NAME vVERSION sSTATE". Its
// calling convention is documented in lua/README.md.
//
// A script has two versions. Version is the source's: it changes whenever
// a byte of the script does, and names the script in SCRIPT LOAD listings
// and in the pinned manifest. State is the state format's, the "sN" that
// ends every key: it changes only when the script reads or writes its state
// differently. A script that gets faster but keeps its state keeps every
// key and every count through a deploy, and old and new instances share
// them during a rolling deploy; a new state format starts from new keys.
type Script struct {
	Name    string // "gcra", "token_bucket", ... or "multi"
	Version int    // bumped whenever the source changes
	State   int    // bumped whenever the state format changes; part of every key; 0 for "multi", which writes each algorithm's state
	SHA1    string // hex SHA1 of Source, as EVALSHA takes it
	Source  string
}

// scriptParts lists each script's files between _lib.lua and _run.lua, in
// order, like miniredis' table of command handlers. The algorithm's own file
// comes last and its header names the script and its version.
var scriptParts = [...]struct {
	name  string
	files []string
}{
	GCRA:                 {"gcra", []string{"_bucket.lua", "gcra.lua"}},
	TokenBucket:          {"token_bucket", []string{"_bucket.lua", "token_bucket.lua"}},
	FixedWindow:          {"fixed_window", []string{"fixed_window.lua"}},
	SlidingWindow:        {"sliding_window", []string{"sliding_window.lua"}},
	SlidingWindowCounter: {"sliding_window_counter", []string{"sliding_window_counter.lua"}},
	LeakyBucket:          {"leaky_bucket", []string{"_bucket.lua", "gcra.lua", "leaky_bucket.lua"}},
	Concurrency:          {"concurrency", []string{"concurrency.lua"}},
	numAlgorithms: {"multi", []string{"_bucket.lua", "gcra.lua", "token_bucket.lua", "fixed_window.lua", "sliding_window.lua",
		"sliding_window_counter.lua", "leaky_bucket.lua", "concurrency.lua"}},
}

// multiVersion is the version of the "multi" script, which has no file of
// its own.
const multiVersion = 5

// scripts is indexed by Algorithm; scripts[numAlgorithms] is "multi". It is
// built once at init from the embedded files and never changes.
var scripts = buildScripts()

func buildScripts() [numAlgorithms + 1]*Script {
	read := func(f string) string {
		b, err := luaFS.ReadFile("lua/" + f)
		if err != nil {
			panic("smartlimit: embedded script missing: " + f) // a build defect, caught by every test
		}
		return string(b)
	}
	lib, run := read("_lib.lua"), read("_run.lua")
	var out [numAlgorithms + 1]*Script
	for i, part := range scriptParts {
		version, state := multiVersion, 0
		if Algorithm(i) < numAlgorithms {
			version, state = headerVersions(read(part.files[len(part.files)-1]), part.name)
		}
		var b strings.Builder
		b.WriteString("-- smartlimit:" + part.name + " v" + strconv.Itoa(version))
		if state > 0 {
			b.WriteString(" s" + strconv.Itoa(state))
		}
		b.WriteString("\n")
		b.WriteString(lib)
		for _, f := range part.files {
			b.WriteString(read(f))
		}
		b.WriteString(run)
		src := b.String()
		sum := sha1.Sum([]byte(src))
		out[i] = &Script{Name: part.name, Version: version, State: state, SHA1: hex.EncodeToString(sum[:]), Source: src}
	}
	return out
}

// headerVersions reads "-- smartlimit:NAME vN sM" from the first line of
// an algorithm file: the source version N and the state format M.
func headerVersions(src, name string) (version, state int) {
	line, _, _ := strings.Cut(src, "\n")
	rest, ok := strings.CutPrefix(line, "-- smartlimit:"+name+" v")
	v, st, ok2 := strings.Cut(rest, " s")
	version, err1 := strconv.Atoi(v)
	state, err2 := strconv.Atoi(st)
	if !ok || !ok2 || err1 != nil || err2 != nil || version <= 0 || state <= 0 {
		panic("smartlimit: lua/" + name + ".lua must start with \"-- smartlimit:" + name + " vN sM\"")
	}
	return version, state
}

// Scripts returns every embedded script: one per algorithm, in Algorithm
// order, then "multi". The Scripts are copies; changing them changes nothing.
func Scripts() []Script {
	out := make([]Script, len(scripts))
	for i, s := range scripts {
		out[i] = *s
	}
	return out
}

// ScriptFor returns a copy of the script that runs a.
func ScriptFor(a Algorithm) (Script, error) {
	if a >= numAlgorithms {
		return Script{}, &InputError{Field: "algorithm", Value: strconv.Itoa(int(a)), Reason: "unknown algorithm"}
	}
	return *scripts[a], nil
}

// LoadScripts loads every script into every node of c: each primary and
// replica of a Cluster, or the one server of a standalone or Sentinel
// client. Calls work without it (a missing script is sent once with EVAL);
// it spares the first calls after a deploy that round trip, and managed
// services that forbid EVAL need it.
func LoadScripts(ctx context.Context, c rueidis.Client) error {
	for addr, node := range c.Nodes() {
		for _, s := range scripts {
			sha, err := node.Do(ctx, node.B().ScriptLoad().Script(s.Source).Build()).ToString()
			if err != nil {
				return fmt.Errorf("smartlimit: loading %s into %s: %w", s.Name, addr, err)
			}
			if sha != s.SHA1 {
				return fmt.Errorf("smartlimit: %s on %s loaded as %s, want %s", s.Name, addr, sha, s.SHA1)
			}
		}
	}
	return nil
}

// MissingScripts reports, for every node of c, the names of the scripts
// that SCRIPT EXISTS does not find there. An empty map means every script
// is on every node.
func MissingScripts(ctx context.Context, c rueidis.Client) (map[string][]string, error) {
	shas := make([]string, len(scripts))
	for i, s := range scripts {
		shas[i] = s.SHA1
	}
	missing := map[string][]string{}
	for addr, node := range c.Nodes() {
		found, err := node.Do(ctx, node.B().ScriptExists().Sha1(shas...).Build()).AsIntSlice()
		if err != nil {
			return nil, fmt.Errorf("smartlimit: SCRIPT EXISTS on %s: %w", addr, err)
		}
		if len(found) != len(shas) {
			return nil, fmt.Errorf("%w: SCRIPT EXISTS on %s answered %d values for %d scripts", ErrUnexpectedReply, addr, len(found), len(shas))
		}
		for i, ok := range found {
			if ok != 1 {
				missing[addr] = append(missing[addr], scripts[i].Name)
			}
		}
	}
	return missing, nil
}
