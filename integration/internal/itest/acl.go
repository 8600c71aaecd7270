package itest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// ACLCommands are the commands a Redis user of the engine needs, found by
// taking each away and watching what breaks: the script calls (EVALSHA,
// and EVAL for the NOSCRIPT fallback), the commands the scripts call (a
// script runs with its caller's permissions), DEL for Reset, SCRIPT LOAD
// and SCRIPT EXISTS for LoadScripts and MissingScripts, and PING for
// health checks. HELLO and AUTH need no grant.
var ACLCommands = strings.Fields("+evalsha +eval +script|load +script|exists +ping" +
	" +time +get +mget +set +pexpire +zadd +zcard +zcount +zscore +zrange +zrangebyscore +zrem +zremrangebyscore +zremrangebyrank +del")

// ACLClusterCommands are what a cluster client needs on top of
// ACLCommands: rueidis reads the slot map with CLUSTER SLOTS (CLUSTER
// SHARDS on newer servers).
var ACLClusterCommands = []string{"+cluster|slots", "+cluster|shards"}

// LeastPrivilege creates a user allowed only perms on keys under a prefix
// of its own, on every node that nodes returns, and checks that a Client
// connected as that user can do all its work — every algorithm's Allow,
// Peek and Reset, leases, batches, AllowAll, LoadScripts, MissingScripts,
// PING — with the script cache flushed first, so that EVAL is used too;
// and that the user can do nothing else: no other command, no other key.
func LeastPrivilege(t *testing.T, admin rueidis.Client, opt rueidis.ClientOption, perms []string) {
	ctx := context.Background()
	prefix := Prefix()
	user := "limiter-" + prefix
	setuser := append([]string{"ACL", "SETUSER", user, "reset", "on", ">s3cret", "~" + prefix + ":*"}, perms...)
	for addr, node := range admin.Nodes() {
		if err := node.Do(ctx, node.B().Arbitrary(setuser...).Build()).Error(); err != nil {
			t.Fatalf("ACL SETUSER on %s: %v", addr, err)
		}
		if err := node.Do(ctx, node.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatalf("SCRIPT FLUSH on %s: %v", addr, err)
		}
		t.Cleanup(func() { node.Do(context.Background(), node.B().AclDeluser().Username(user).Build()) })
	}
	t.Logf("ACL SETUSER %s", strings.Join(setuser[2:], " "))

	opt.Username, opt.Password = user, "s3cret"
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	t.Cleanup(rc.Close)
	c, err := smartlimit.New(rc, smartlimit.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for a := range smartlimit.Concurrency + 1 {
		l := smartlimit.Limit{Algorithm: a, Rate: 5, Period: time.Second}
		if r, err := c.Allow(ctx, "k", l); err != nil || !r.Allowed {
			t.Errorf("%s: Allow = %+v, %v", a, r, err)
		}
		if _, err := c.Peek(ctx, "k", l); err != nil {
			t.Errorf("%s: Peek: %v", a, err)
		}
		if err := c.Reset(ctx, "k", l); err != nil {
			t.Errorf("%s: Reset: %v", a, err)
		}
	}
	lease, r, err := c.Acquire(ctx, "job", smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: time.Minute})
	if err != nil || !r.Allowed {
		t.Fatalf("Acquire = %+v, %v", r, err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
	reqs := []smartlimit.Request{
		{Key: "a", Limit: smartlimit.PerSecond(3), Cost: 1},
		{Key: "b", Limit: smartlimit.Limit{Algorithm: smartlimit.SlidingWindow, Rate: 3, Period: time.Second}, Cost: 1},
		{Key: "c", Limit: smartlimit.PerMinute(3), Cost: 1},
	}
	if _, err := c.AllowMany(ctx, reqs); err != nil {
		t.Errorf("AllowMany: %v", err)
	}
	if _, err := c.AllowAll(ctx, "a", 1, smartlimit.PerSecond(3), smartlimit.PerMinute(3)); err != nil {
		t.Errorf("AllowAll: %v", err)
	}
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Errorf("LoadScripts: %v", err)
	}
	if missing, err := smartlimit.MissingScripts(ctx, rc); err != nil || len(missing) != 0 {
		t.Errorf("MissingScripts = %v, %v", missing, err)
	}
	if err := rc.Do(ctx, rc.B().Ping().Build()).Error(); err != nil {
		t.Errorf("PING: %v", err)
	}

	// And no more than that.
	if err := rc.Do(ctx, rc.B().Keys().Pattern("*").Build()).Error(); !isNoPerm(err) {
		t.Errorf("KEYS as %s = %v, want NOPERM", user, err)
	}
	other, err := smartlimit.New(rc, smartlimit.WithPrefix(prefix+"-other"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Allow(ctx, "k", smartlimit.PerSecond(3)); !isNoPerm(err) {
		t.Errorf("Allow under another prefix = %v, want NOPERM", err)
	}
}

func isNoPerm(err error) bool {
	re, ok := rueidis.IsRedisErr(unwrapAll(err))
	return ok && strings.HasPrefix(re.Error(), "NOPERM")
}

// unwrapAll returns the innermost error of a chain of single wraps:
// rueidis.IsRedisErr is a type assertion and cannot see through %w.
func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
