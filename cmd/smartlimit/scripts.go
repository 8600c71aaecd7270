package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// scriptsOptions are the options of scripts.
type scriptsOptions struct {
	Action string // "list", "show", "load" or "verify"
	Name   string // show: the script
	JSON   bool
	Redis  redisOptions

	Stdout io.Writer
}

func newScriptsCmd(o *scriptsOptions) *command {
	c := &command{
		UsageLine: "scripts list | show NAME | load | verify [--json] [--redis URL]",
		Short:     "list, print, load and verify the Lua scripts",
		Long: `Scripts manages the Lua scripts that run the algorithms inside Redis.

	list     name, version, SHA1 and size of every embedded script
	show     print the exact Lua source of script NAME, for review
	load     SCRIPT LOAD every script into every node of the target: each
	         primary and replica of a Cluster, or the one server
	verify   SCRIPT EXISTS every script on every node; exit status 1 when
	         any is missing

Checks work without loading (a missing script is sent once with EVAL), but
loading spares the first calls after a deploy that round trip, and managed
services that forbid EVAL need it. Run "scripts load" after a deploy, a
failover or a SCRIPT FLUSH, and "scripts verify" in a readiness probe.`,
		Flag: flagSet("scripts"),
	}
	c.Flag.BoolVar(&o.JSON, "json", false, "print JSON instead of a table (list, load, verify)")
	addRedisFlags(c, &o.Redis, false)
	c.Args = func(args []string) error {
		if len(args) == 0 {
			return usagef("missing action: list, show, load or verify")
		}
		o.Action = args[0]
		want := 0
		switch o.Action {
		case "show":
			want = 1
		case "list", "load", "verify":
		default:
			return usagef("unknown action %q: want list, show, load or verify", o.Action)
		}
		if len(args)-1 != want {
			if want == 1 {
				return usagef("scripts show needs one script NAME (see scripts list)")
			}
			return usagef("scripts %s takes no arguments, got %q", o.Action, args[1])
		}
		if want == 1 {
			s, ok := findScript(args[1])
			if !ok {
				return usagef("no script %q (see scripts list)", args[1])
			}
			o.Name = s.Name
		}
		return o.Redis.check(c)
	}
	c.Run = func(ctx context.Context) error { return runScripts(ctx, *o) }
	return c
}

// findScript finds an embedded script by name, accepting dashes for
// underscores as ParseAlgorithm does.
func findScript(name string) (smartlimit.Script, bool) {
	norm := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for _, s := range smartlimit.Scripts() {
		if s.Name == norm {
			return s, true
		}
	}
	return smartlimit.Script{}, false
}

func runScripts(ctx context.Context, o scriptsOptions) error {
	switch o.Action {
	case "list":
		return listScripts(o.Stdout, o.JSON)
	case "show":
		s, ok := findScript(o.Name)
		if !ok {
			return fmt.Errorf("no script %q", o.Name)
		}
		_, err := io.WriteString(o.Stdout, s.Source)
		return err
	}
	t, err := connect(ctx, o.Redis, false)
	if err != nil {
		return err
	}
	defer t.Close()
	if o.Action == "load" {
		return loadScripts(ctx, o.Stdout, t.Redis, o.JSON)
	}
	return verifyScripts(ctx, o.Stdout, t.Redis, o.JSON)
}

// ScriptJSON is one script as "scripts list --json" prints it.
type ScriptJSON struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	State   int    `json:"state"` // the state format, part of every key; 0 for "multi"
	SHA1    string `json:"sha1"`
	Bytes   int    `json:"bytes"`
}

func listScripts(w io.Writer, asJSON bool) error {
	var list []ScriptJSON
	for _, s := range smartlimit.Scripts() {
		list = append(list, ScriptJSON{Name: s.Name, Version: s.Version, State: s.State, SHA1: s.SHA1, Bytes: len(s.Source)})
	}
	if asJSON {
		return writeJSON(w, list)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tSHA1\tBYTES")
	for _, s := range list {
		state := "-" // "multi" writes each algorithm's state
		if s.State > 0 {
			state = "s" + strconv.Itoa(s.State)
		}
		fmt.Fprintf(tw, "%s\tv%d\t%s\t%s\t%d\n", s.Name, s.Version, state, s.SHA1, s.Bytes)
	}
	return tw.Flush()
}

// NodeScriptsJSON is one node as "scripts verify --json" and "scripts load
// --json" print it.
type NodeScriptsJSON struct {
	Addr    string   `json:"addr"`
	Missing []string `json:"missing"` // never null: [] when every script is there
}

// ScriptsReportJSON is what "scripts verify --json" and "scripts load
// --json" print.
type ScriptsReportJSON struct {
	OK      bool              `json:"ok"`
	Scripts int               `json:"scripts"`
	Nodes   []NodeScriptsJSON `json:"nodes"`
}

func loadScripts(ctx context.Context, w io.Writer, rc rueidis.Client, asJSON bool) error {
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		return err
	}
	rep, err := scriptsReport(ctx, rc)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(w, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "loaded %d scripts into %d %s:\n", rep.Scripts, len(rep.Nodes), plural(len(rep.Nodes), "node", "nodes"))
		printNodes(w, rep)
	}
	if !rep.OK {
		return exitCode(exitNo) // loaded, yet missing: a node flushed meanwhile
	}
	return nil
}

func verifyScripts(ctx context.Context, w io.Writer, rc rueidis.Client, asJSON bool) error {
	rep, err := scriptsReport(ctx, rc)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(w, rep); err != nil {
			return err
		}
	} else {
		printNodes(w, rep)
		if !rep.OK {
			fmt.Fprintln(w, `some scripts are missing: run "smartlimit scripts load"`)
		}
	}
	if !rep.OK {
		return exitCode(exitNo)
	}
	return nil
}

// scriptsReport asks every node of rc which scripts it lacks.
func scriptsReport(ctx context.Context, rc rueidis.Client) (ScriptsReportJSON, error) {
	missing, err := smartlimit.MissingScripts(ctx, rc)
	if err != nil {
		return ScriptsReportJSON{}, err
	}
	rep := ScriptsReportJSON{OK: len(missing) == 0, Scripts: len(smartlimit.Scripts())}
	for addr := range rc.Nodes() {
		m := missing[addr]
		if m == nil {
			m = []string{}
		}
		rep.Nodes = append(rep.Nodes, NodeScriptsJSON{Addr: addr, Missing: m})
	}
	sort.Slice(rep.Nodes, func(i, j int) bool { return rep.Nodes[i].Addr < rep.Nodes[j].Addr })
	return rep, nil
}

func printNodes(w io.Writer, rep ScriptsReportJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSCRIPTS")
	for _, n := range rep.Nodes {
		if len(n.Missing) == 0 {
			fmt.Fprintf(tw, "%s\tall %d present\n", n.Addr, rep.Scripts)
		} else {
			fmt.Fprintf(tw, "%s\tmissing %d: %s\n", n.Addr, len(n.Missing), strings.Join(n.Missing, ", "))
		}
	}
	tw.Flush()
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
