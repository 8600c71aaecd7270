package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// env returns a lookupEnv over m.
func env(m map[string]string) lookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseCheck(t *testing.T) {
	tenPerSec := smartlimit.Limit{Rate: 10, Period: time.Second, Burst: 10}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want checkOptions
	}{
		{"flags after the key", []string{"alice", "--limit", "10/s"}, nil,
			checkOptions{Op: "check", Key: "alice", Limit: tenPerSec, Cost: 1, Redis: redisOptions{Prefix: "sl"}}},
		{"flags before the key", []string{"-limit=10/s", "-cost", "3", "--json", "bob"}, nil,
			checkOptions{Op: "check", Key: "bob", Limit: tenPerSec, Cost: 3, JSON: true, Redis: redisOptions{Prefix: "sl"}}},
		{"algorithm and burst override the limit", []string{"k", "--limit", "10/s fixed_window", "--algorithm", "token-bucket", "--burst", "20"}, nil,
			checkOptions{Op: "check", Key: "k", Limit: smartlimit.Limit{Algorithm: smartlimit.TokenBucket, Rate: 10, Period: time.Second, Burst: 20}, Cost: 1, Redis: redisOptions{Prefix: "sl"}}},
		{"env sets what flags do not", []string{"k"}, map[string]string{"SMARTLIMIT_LIMIT": "10/s", "SMARTLIMIT_REDIS_URL": "redis://h:1", "SMARTLIMIT_PREFIX": "p"},
			checkOptions{Op: "check", Key: "k", Limit: tenPerSec, Cost: 1, Redis: redisOptions{URL: "redis://h:1", Prefix: "p"}}},
		{"flags beat env", []string{"k", "--limit", "10/s", "--redis", "redis://flag:2"}, map[string]string{"SMARTLIMIT_LIMIT": "1/h", "SMARTLIMIT_REDIS_URL": "redis://env:1"},
			checkOptions{Op: "check", Key: "k", Limit: tenPerSec, Cost: 1, Redis: redisOptions{URL: "redis://flag:2", Prefix: "sl"}}},
		{"--embedded beats the env URL", []string{"k", "--limit", "10/s", "--embedded"}, map[string]string{"SMARTLIMIT_REDIS_URL": "redis://env:1"},
			checkOptions{Op: "check", Key: "k", Limit: tenPerSec, Cost: 1, Redis: redisOptions{Embedded: true, Prefix: "sl"}}},
		{"-- ends the flags", []string{"--limit", "10/s", "--", "-dash-key"}, nil,
			checkOptions{Op: "check", Key: "-dash-key", Limit: tenPerSec, Cost: 1, Redis: redisOptions{Prefix: "sl"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o checkOptions
			c := newCheckCmd(&o, "check")
			if err := c.parse(tc.args, env(tc.env)); err != nil {
				t.Fatalf("parse(%q) = %v", tc.args, err)
			}
			if !reflect.DeepEqual(o, tc.want) {
				t.Fatalf("parse(%q):\n got %+v\nwant %+v", tc.args, o, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	testUsageErrors(t, []usageCase{
		{"check", []string{"--limit", "10/s"}, nil, "want exactly one KEY"},
		{"check", []string{"a", "b", "--limit", "10/s"}, nil, "want exactly one KEY"},
		{"check", []string{"k"}, nil, "--limit is required"},
		{"check", []string{"k", "--limit", "10/fortnight"}, nil, "period"},
		{"check", []string{"k", "--limit", "10/s", "--algorithm", "magic"}, nil, "--algorithm"},
		{"check", []string{"k", "--limit", "10/s", "--cost", "-1"}, nil, "cost"},
		{"check", []string{"bad}key", "--limit", "10/s"}, nil, "key"},
		{"check", []string{"k", "--limit", "10/s", "--nope"}, nil, "flag provided but not defined"},
		{"check", []string{"k"}, map[string]string{"SMARTLIMIT_LIMIT": "ten"}, "limit"},
		{"check", []string{"k", "--limit", "1/s", "--redis", "http://x"}, nil, "scheme"},
		{"check", []string{"k", "--limit", "1/s", "--redis", "redis://x", "--embedded"}, nil, "exclude"},
		{"check", []string{"k", "--limit", "1/s", "--prefix", "a{b"}, nil, "prefix"},
		{"peek", []string{"k", "--limit", "1/s", "--cost", "2"}, nil, "not defined"},
		{"release", []string{"k", "--limit", "1/m concurrency"}, nil, "want KEY and LEASE_ID"},
		{"release", []string{"k", "id", "--limit", "1/m"}, nil, "takes a Concurrency limit"},
		{"scripts", nil, nil, "missing action"},
		{"scripts", []string{"dance"}, nil, "unknown action"},
		{"scripts", []string{"show"}, nil, "needs one script NAME"},
		{"scripts", []string{"show", "nosuch"}, nil, "no script"},
		{"scripts", []string{"list", "extra"}, nil, "takes no arguments"},
		{"health", []string{"extra"}, nil, "unexpected argument"},
		{"health", []string{"--timeout", "0s"}, nil, "--timeout"},
		{"health", []string{"--max-expired", "-1m"}, nil, "--max-expired"},
		{"health", nil, map[string]string{"SMARTLIMIT_HEALTH_TIMEOUT": "soon"}, "SMARTLIMIT_HEALTH_TIMEOUT"},
		{"serve", []string{"--addr", "nocolon"}, nil, "--addr"},
		{"serve", []string{"--limit", "2/s", "--burst", "-1"}, nil, "burst"},
		{"bench", []string{"--concurrency", "0"}, nil, "--concurrency"},
		{"bench", []string{"--batch", "0"}, nil, "--batch"},
		{"bench", []string{"--coalesce", "yes"}, nil, "--coalesce"},
		{"bench", []string{"--keys", "0"}, nil, "--keys"},
		{"bench", []string{"--duration", "-1s"}, nil, "--duration"},
		{"bench", []string{"--max-checks", "-5"}, nil, "--max-checks"},
	})
}

func TestURLErrorsHidePasswords(t *testing.T) {
	for _, u := range []string{"redis://u:secret@host:port:bad", "redis://u:secret@host:6379/x/y", "redis://u:secret@h:1/%zz"} {
		var o checkOptions
		err := newCheckCmd(&o, "check").parse([]string{"k", "--limit", "1/s", "--redis", u}, env(nil))
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("--redis %s: error %v", u, err)
		}
	}
	if got := redactURL("rediss://user:secret@h:1/2?addr=h2:3"); got != "rediss://user:xxxxx@h:1/2?addr=h2:3" {
		t.Errorf("redactURL = %q", got)
	}
}

func TestParseServeAndBench(t *testing.T) {
	var so serveOptions
	if err := newServeCmd(&so).parse(nil, env(map[string]string{"SMARTLIMIT_ADDR": "127.0.0.1:0"})); err != nil {
		t.Fatal(err)
	}
	if got, want := so.Addr, "127.0.0.1:0"; got != want {
		t.Errorf("serve Addr = %q, want %q", got, want)
	}
	if got, want := so.Limit, (smartlimit.Limit{Rate: 5, Period: 10 * time.Second, Burst: 5}); got != want {
		t.Errorf("serve Limit = %v, want %v", got, want)
	}
	if so.Redis.URL != "" || so.Redis.Embedded {
		t.Errorf("serve Redis = %+v, want the default (embedded when run)", so.Redis)
	}

	var bo benchOptions
	args := []string{"--duration", "3s", "--concurrency", "4", "--keys", "7", "--batch", "20", "--limit", "50/m sliding_window", "--max-checks", "100", "--json", "--coalesce", "off"}
	if err := newBenchCmd(&bo).parse(args, env(nil)); err != nil {
		t.Fatal(err)
	}
	want := benchOptions{Duration: 3 * time.Second, MaxChecks: 100, Concurrency: 4, Keys: 7, Batch: 20, JSON: true, Coalesce: "off",
		Limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 50, Period: time.Minute, Burst: 50}, Redis: redisOptions{Prefix: "sl"}}
	if !reflect.DeepEqual(bo, want) {
		t.Errorf("bench options:\n got %+v\nwant %+v", bo, want)
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runEnv(context.Background(), []string{"--help"}, &out, &errb, env(nil)); code != exitOK {
		t.Fatalf("--help exit %d, want 0", code)
	}
	usage := out.String()
	out.Reset()
	for _, c := range commands(io.Discard, io.Discard) {
		if !strings.Contains(usage, "\t"+c.Name()) {
			t.Errorf("--help does not list %s:\n%s", c.Name(), usage)
		}
		if code := runEnv(context.Background(), []string{"help", c.Name()}, &out, &errb, env(nil)); code != exitOK {
			t.Fatalf("help %s exit %d", c.Name(), code)
		}
		if !strings.HasPrefix(out.String(), "usage: smartlimit "+c.Name()) {
			t.Errorf("help %s starts %q", c.Name(), out.String()[:min(60, out.Len())])
		}
		// Every variable a command reads is in its help.
		for _, e := range c.Env {
			if !strings.Contains(out.String(), e) {
				t.Errorf("help %s does not mention %s", c.Name(), e)
			}
		}
		var h bytes.Buffer
		if code := runEnv(context.Background(), []string{c.Name(), "-h"}, &h, &errb, env(nil)); code != exitOK || h.String() != out.String() {
			t.Errorf("%s -h: exit %d, output differs from help %s", c.Name(), code, c.Name())
		}
		out.Reset()
	}
}

func TestUsageExitCodes(t *testing.T) {
	for _, args := range [][]string{nil, {"nosuch"}, {"help", "nosuch"}, {"check"}, {"scripts", "--bad"}} {
		var out, errb bytes.Buffer
		if code := runEnv(context.Background(), args, &out, &errb, env(nil)); code != exitError {
			t.Errorf("%q: exit %d, want %d", args, code, exitError)
		}
		if errb.Len() == 0 {
			t.Errorf("%q: nothing on stderr", args)
		}
	}
}

func TestFlagsDocumentTheirEnv(t *testing.T) {
	for _, c := range commands(io.Discard, io.Discard) {
		for name, e := range c.Env {
			if f := c.Flag.Lookup(name); f == nil || !strings.Contains(f.Usage, e) {
				t.Errorf("%s --%s: usage does not name %s", c.Name(), name, e)
			}
		}
		c.Flag.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" {
				t.Errorf("%s --%s has no usage", c.Name(), f.Name)
			}
		})
	}
}

// usageCase is a command line that parse must refuse with a usage error
// whose message mentions want.
type usageCase struct {
	cmd  string
	args []string
	env  map[string]string
	want string // part of the message
}

func testUsageErrors(t *testing.T, cases []usageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.cmd+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			c := find(commands(io.Discard, io.Discard), tc.cmd)
			err := c.parse(tc.args, env(tc.env))
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parse(%q) = %v, want a usage error", tc.args, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parse(%q) = %q, want it to mention %q", tc.args, err, tc.want)
			}
		})
	}
}
