package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/smartlimit/smartlimit"
)

// checkOptions are the options of check, peek, reset and release.
type checkOptions struct {
	Op      string // "check", "peek", "reset" or "release"
	Key     string
	LeaseID string // release only
	Limit   smartlimit.Limit
	Cost    int64 // check only
	JSON    bool
	Redis   redisOptions

	Stdout io.Writer
}

var checkDocs = map[string]struct{ usage, short, long string }{
	"check": {
		"check KEY --limit RATE/PERIOD [--algorithm A] [--burst N] [--cost N] [--json] [--redis URL]",
		"decide one request from the shell",
		`Check asks whether COST units (default 1) may pass for KEY under the limit
now, and consumes them if so: one AllowN call, as a service would make. It
prints every field of the Result as a table, or as JSON with --json.
Durations are Go durations ("1.5s"); a RetryAfter of "never" means the cost
is larger than the limit's capacity. --cost 0 asks without consuming.

Under a Concurrency limit an allowed check takes a lease, one of the limit's
RATE slots, for PERIOD: it prints the lease's ID, which "smartlimit
release" takes to give the slot back before it expires.

The exit status is 0 when the request is allowed, 1 when it is denied, and
2 when the check could not be made.

Example:

	smartlimit check user:42 --limit 10/s --redis redis://127.0.0.1:6379`,
	},
	"peek": {
		"peek KEY --limit RATE/PERIOD [--algorithm A] [--burst N] [--json] [--redis URL]",
		"show a key's state without consuming",
		`Peek shows KEY's state under the limit without consuming anything:
Remaining is what is available now, and Allowed says whether a request of
cost 1 would pass. Output and exit status are those of check.`,
	},
	"reset": {
		"reset KEY --limit RATE/PERIOD [--algorithm A] [--burst N] [--json] [--redis URL]",
		"forget a key's state under a limit",
		`Reset deletes KEY's state under the limit, so that the next check finds the
limit full. It prints the Redis key it deleted. The limit must be the one
the service uses: every limit keeps its own state (see smartlimit.Client).`,
	},
	"release": {
		"release KEY LEASE_ID --limit \"RATE/PERIOD concurrency\" [--json] [--redis URL]",
		"give back a concurrency lease that check took",
		`Release gives back the lease LEASE_ID of KEY under a Concurrency limit,
the ID that "smartlimit check" printed, so that its slot is free before
the lease expires. The limit must be the one the lease was taken under.

The exit status is 0 when the lease was released, 1 when it was not held
(it expired, was released already, or never existed), and 2 when the
release could not be made.

Example:

	smartlimit check job:7 --limit "2/10m concurrency"    # prints: lease  5f0c…
	smartlimit release job:7 5f0c… --limit "2/10m concurrency"`,
	},
}

// newCheckCmd returns the check, peek or reset command (op), bound to o.
func newCheckCmd(o *checkOptions, op string) *command {
	o.Op = op
	doc := checkDocs[op]
	c := &command{UsageLine: doc.usage, Short: doc.short, Long: doc.long, Flag: flagSet(op)}
	var lf limitFlags
	addLimitFlags(c, &lf, "", "SMARTLIMIT_LIMIT")
	if op == "check" {
		c.Flag.Int64Var(&o.Cost, "cost", 1, "the request's `cost` in units; 0 asks without consuming")
	}
	c.Flag.BoolVar(&o.JSON, "json", false, "print JSON instead of a table")
	addRedisFlags(c, &o.Redis, false)
	c.Args = func(args []string) error {
		switch {
		case op == "release" && len(args) != 2:
			return usagef("want KEY and LEASE_ID, got %d arguments", len(args))
		case op != "release" && len(args) != 1:
			return usagef("want exactly one KEY, got %d arguments", len(args))
		}
		o.Key = args[0]
		if op == "release" {
			o.LeaseID = args[1]
		}
		var err error
		if o.Limit, err = lf.Limit(); err != nil {
			return err
		}
		if op == "release" && o.Limit.Algorithm != smartlimit.Concurrency {
			return usagef("release takes a Concurrency limit, like --limit \"2/10m concurrency\"; got %s", o.Limit)
		}
		if err := smartlimit.CheckRequest(o.Key, o.Limit, o.Cost); err != nil {
			return &usageError{err}
		}
		return o.Redis.check(c)
	}
	c.Run = func(ctx context.Context) error {
		t, err := connect(ctx, o.Redis, false)
		if err != nil {
			return err
		}
		defer t.Close()
		if op == "release" {
			return runRelease(ctx, t.Client, *o)
		}
		return runCheck(ctx, t.Client, *o)
	}
	return c
}

// checkReport is what check, peek, reset and release print in JSON.
type checkReport struct {
	Op       string `json:"op"`
	Key      string `json:"key"`
	Policy   string `json:"policy"`
	Cost     int64  `json:"cost"`
	RedisKey string `json:"redis_key"`
	// LeaseID is the lease that an allowed check of a Concurrency limit
	// took, or the one release gave back.
	LeaseID string `json:"lease_id,omitempty"`
	// Released reports whether release found the lease; release only.
	Released *bool `json:"released,omitempty"`
	*ResultJSON
}

// runCheck makes the call o.Op names on c and prints the result. A denial
// is exitCode(exitNo).
func runCheck(ctx context.Context, c *smartlimit.Client, o checkOptions) error {
	rk, err := c.Key(o.Key, o.Limit)
	if err != nil {
		return err
	}
	rep := checkReport{Op: o.Op, Key: o.Key, Policy: o.Limit.String(), Cost: o.Cost, RedisKey: rk}
	var r smartlimit.Result
	switch o.Op {
	case "check":
		if o.Limit.Algorithm == smartlimit.Concurrency && o.Cost == 1 {
			// Acquire, not AllowN: AllowN's lease has an ID nobody knows,
			// so nothing could release it before it expires.
			var ls *smartlimit.Lease
			ls, r, err = c.Acquire(ctx, o.Key, o.Limit)
			if ls != nil {
				rep.LeaseID = ls.ID
			}
			break
		}
		r, err = c.AllowN(ctx, o.Key, o.Limit, o.Cost)
	case "peek":
		rep.Cost = 1 // Peek answers for a request of cost 1
		r, err = c.Peek(ctx, o.Key, o.Limit)
	case "reset":
		err = c.Reset(ctx, o.Key, o.Limit)
	default:
		return fmt.Errorf("unknown operation %q", o.Op)
	}
	if err != nil {
		return err
	}
	if o.Op != "reset" {
		jr := toJSONResult(r)
		rep.ResultJSON = &jr
	}
	if err := printReport(o, rep); err != nil {
		return err
	}
	if rep.ResultJSON != nil && !r.Allowed {
		return exitCode(exitNo)
	}
	return nil
}

// runRelease gives back the lease o.LeaseID of o.Key under o.Limit, a
// Concurrency limit. A lease that was not held is exitCode(exitNo).
func runRelease(ctx context.Context, c *smartlimit.Client, o checkOptions) error {
	rk, err := c.Key(o.Key, o.Limit)
	if err != nil {
		return err
	}
	released, err := c.ReleaseLease(ctx, o.Key, o.Limit, o.LeaseID)
	if err != nil {
		return fmt.Errorf("releasing lease %s: %w", o.LeaseID, err)
	}
	rep := checkReport{Op: o.Op, Key: o.Key, Policy: o.Limit.String(), RedisKey: rk, LeaseID: o.LeaseID, Released: &released}
	if err := printReport(o, rep); err != nil {
		return err
	}
	if !released {
		return exitCode(exitNo)
	}
	return nil
}

// printReport prints rep as o says: JSON or a table.
func printReport(o checkOptions, rep checkReport) error {
	if o.JSON {
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printCheck(o.Stdout, rep)
	return nil
}

func printCheck(w io.Writer, rep checkReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "key\t%s\n", rep.Key)
	fmt.Fprintf(tw, "policy\t%s\n", rep.Policy)
	fmt.Fprintf(tw, "redis key\t%s\n", rep.RedisKey)
	if r := rep.ResultJSON; r != nil {
		fmt.Fprintf(tw, "cost\t%d\n", rep.Cost)
		fmt.Fprintf(tw, "allowed\t%t\n", r.Allowed)
		fmt.Fprintf(tw, "limit\t%d\n", r.Limit)
		fmt.Fprintf(tw, "remaining\t%d\n", r.Remaining)
		fmt.Fprintf(tw, "reset after\t%s\n", formatDuration(time.Duration(r.ResetAfter)))
		fmt.Fprintf(tw, "retry after\t%s\n", formatDuration(time.Duration(r.RetryAfter)))
		fmt.Fprintf(tw, "delay\t%s\n", formatDuration(time.Duration(r.Delay)))
		fmt.Fprintf(tw, "tier\t%s\n", r.Tier)
		if rep.LeaseID != "" {
			fmt.Fprintf(tw, "lease\t%s\n", rep.LeaseID)
		}
	} else if rep.Released != nil {
		fmt.Fprintf(tw, "lease\t%s\n", rep.LeaseID)
		fmt.Fprintf(tw, "released\t%t\n", *rep.Released)
	} else {
		fmt.Fprintf(tw, "reset\tdone\n")
	}
	tw.Flush()
}
