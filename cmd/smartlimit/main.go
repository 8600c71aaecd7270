// Command smartlimit is the operator's tool for smartlimit: a rate-limited
// demo server that needs nothing installed, a health check for every tier,
// the embedded Lua scripts (list, show, load, verify), one-off checks from
// the shell (and the release of the concurrency leases they take), a load
// generator, and the upkeep of the MongoDB tier's collection (its TTL index,
// the deletion of expired documents).
//
// Usage:
//
//	smartlimit <command> [arguments]
//
// Run "smartlimit help" for the commands and "smartlimit help <command>"
// for one command's flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, the same for every command: 0 yes, 1 no, 2 could not tell.
const (
	exitOK    = 0 // done; allowed; healthy; every script present
	exitNo    = 1 // denied; degraded; scripts missing; bench saw errors
	exitError = 2 // usage error, Redis or MongoDB unreachable, or another failure; health: down
)

// command is one subcommand, in the shape of cmd/go's base.Command.
type command struct {
	// UsageLine is the one-line usage message; its first word is the name.
	UsageLine string
	// Short is the one-line description shown by "smartlimit help".
	Short string
	// Long is the description shown by "smartlimit help <command>".
	Long string
	// Flag holds the command's flags, bound to its options.
	Flag *flag.FlagSet
	// Env maps flag names to the environment variables that set them when
	// the flag is not given: flag > env > default.
	Env map[string]string
	// Args takes the arguments left after the flags into the options and
	// checks the options; nil means the command takes no arguments.
	Args func(args []string) error
	// Run does the command's work with the options the parse filled.
	Run func(ctx context.Context) error

	given map[string]bool // flags given on the command line; see Given
}

// Name returns the command's name, the first word of its UsageLine.
func (c *command) Name() string {
	name, _, _ := strings.Cut(c.UsageLine, " ")
	return name
}

// usageError is bad input on the command line; it exits 2 after the usage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitCode is returned by a Run that has already said everything it had to
// and only wants the process to exit with the code (a denial, a degraded
// health check).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// lookupEnv reads the environment; tests pass a map's lookup instead.
type lookupEnv func(key string) (string, bool)

// parse sets the flags from args, then the flags that args did not give
// from the environment, then passes the other arguments to c.Args. Flags
// may come after positional arguments ("check KEY --limit 10/s"); "--"
// ends the flags.
func (c *command) parse(args []string, env lookupEnv) error {
	c.Flag.SetOutput(io.Discard) // errors are reported once, by run
	var pos []string
	for {
		if err := c.Flag.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return &usageError{err}
		}
		rest := c.Flag.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	c.given = map[string]bool{}
	c.Flag.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	sort.Strings(names) // the same order, hence the same first error, every time
	for _, name := range names {
		if c.given[name] {
			continue
		}
		if v, ok := env(c.Env[name]); ok && v != "" {
			if err := c.Flag.Set(name, v); err != nil {
				return usagef("$%s: %v", c.Env[name], err)
			}
		}
	}
	if c.Args == nil {
		if len(pos) > 0 {
			return usagef("unexpected argument %q", pos[0])
		}
		return nil
	}
	return c.Args(pos)
}

// Given reports whether flag name was given on the command line (not by
// the environment). It is valid after parse.
func (c *command) Given(name string) bool { return c.given[name] }

// commands returns every command, each bound to fresh options that write to
// stdout and stderr.
func commands(stdout, stderr io.Writer) []*command {
	return []*command{
		newServeCmd(&serveOptions{Stdout: stdout, Stderr: stderr}),
		newHealthCmd(&healthOptions{Stdout: stdout}),
		newScriptsCmd(&scriptsOptions{Stdout: stdout}),
		newCheckCmd(&checkOptions{Stdout: stdout}, "check"),
		newCheckCmd(&checkOptions{Stdout: stdout}, "peek"),
		newCheckCmd(&checkOptions{Stdout: stdout}, "reset"),
		newCheckCmd(&checkOptions{Stdout: stdout}, "release"),
		newBenchCmd(&benchOptions{Stdout: stdout, Stderr: stderr}),
		newMongoCmd(&mongoCmdOptions{Stdout: stdout}),
		newVersionCmd(&versionOptions{Stdout: stdout}),
	}
}

// run runs the command that args name and returns the process's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, stdout, stderr, os.LookupEnv)
}

func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer, env lookupEnv) int {
	cmds := commands(stdout, stderr)
	if len(args) == 0 {
		printUsage(stderr, cmds)
		return exitError
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) == 1 || args[0] != "help" {
			printUsage(stdout, cmds)
			return exitOK
		}
		if len(args) > 2 {
			fmt.Fprintln(stderr, "usage: smartlimit help <command>")
			return exitError
		}
		c := find(cmds, args[1])
		if c == nil {
			fmt.Fprintf(stderr, "smartlimit help %s: unknown command\nRun 'smartlimit help' for usage.\n", args[1])
			return exitError
		}
		printHelp(stdout, c)
		return exitOK
	}
	c := find(cmds, args[0])
	if c == nil {
		fmt.Fprintf(stderr, "smartlimit: unknown command %q\nRun 'smartlimit help' for usage.\n", args[0])
		return exitError
	}
	if err := c.parse(args[1:], env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, c)
			return exitOK
		}
		fmt.Fprintf(stderr, "smartlimit %s: %v\nusage: smartlimit %s\nRun 'smartlimit help %s' for details.\n",
			c.Name(), err, c.UsageLine, c.Name())
		return exitError
	}
	err := c.Run(ctx)
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	default:
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "smartlimit %s: %v\nusage: smartlimit %s\n", c.Name(), err, c.UsageLine)
			return exitError
		}
		fmt.Fprintf(stderr, "smartlimit %s: %v\n", c.Name(), err)
		return exitError
	}
}

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

func printUsage(w io.Writer, cmds []*command) {
	fmt.Fprint(w, `smartlimit is the operator's tool for the smartlimit rate limiter.

Usage:

	smartlimit <command> [arguments]

The commands are:

`)
	for _, c := range cmds {
		fmt.Fprintf(w, "\t%-8s %s\n", c.Name(), c.Short)
	}
	fmt.Fprint(w, `
Use "smartlimit help <command>" for more information about a command.

Every flag can also be set by the environment variable that its help names;
a flag on the command line wins over the variable, which wins over the
default. SMARTLIMIT_REDIS_URL names the Redis for every command, and
SMARTLIMIT_MONGO_URI the MongoDB of health and mongo.

Redis URLs are read by rueidis.ParseURL:

	redis://[user:password@]host:port[/db]     plain TCP
	rediss://...                               TLS
	redis://host:port?addr=host2:port2         a Cluster (several seeds)
	redis://host:port?master_set=NAME          through Sentinel

Exit status is the same for every command: 0 yes (done, allowed, healthy),
1 no (denied, degraded, scripts missing), 2 could not tell (usage error,
Redis or MongoDB unreachable, health: down).
`)
}

func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: smartlimit %s\n\n%s\n", c.UsageLine, strings.TrimSpace(c.Long))
	n := 0
	c.Flag.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		c.Flag.SetOutput(w)
		c.Flag.PrintDefaults()
		c.Flag.SetOutput(io.Discard)
	}
}

// bindEnv records that the environment variable env sets flag name, and
// says so in the flag's help.
func (c *command) bindEnv(name, env string) {
	f := c.Flag.Lookup(name)
	if f == nil {
		panic("smartlimit: bindEnv of undefined flag " + name) // a programming error, caught by every test
	}
	if c.Env == nil {
		c.Env = map[string]string{}
	}
	c.Env[name] = env
	f.Usage += " (env " + env + ")"
}

// flagSet returns an empty flag set for the command name that reports its
// errors to parse instead of exiting.
func flagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ContinueOnError)
}
