package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/smartlimit/smartlimit"
)

// limitFlags are --limit, --algorithm and --burst, which serve, check,
// peek, reset and bench share.
type limitFlags struct {
	limit     string
	algorithm string
	burst     int64
}

// addLimitFlags defines the limit flags on c with the default limit dflt,
// and binds envLimit to --limit when it is not "".
func addLimitFlags(c *command, f *limitFlags, dflt, envLimit string) {
	c.Flag.StringVar(&f.limit, "limit", dflt, "the `limit`: RATE/PERIOD [ALGORITHM] [burst=N], like 10/s, 100/m, \"5/10s fixed_window\"")
	c.Flag.StringVar(&f.algorithm, "algorithm", "", "the `algorithm`, overriding the one --limit names: gcra, token_bucket, fixed_window,\nsliding_window, sliding_window_counter, leaky_bucket or concurrency")
	c.Flag.Int64Var(&f.burst, "burst", 0, "the `burst` of a bucket algorithm, overriding --limit's (default: the rate)")
	if envLimit != "" {
		c.bindEnv("limit", envLimit)
	}
}

// Limit returns the limit the flags describe, or a usage error.
func (f *limitFlags) Limit() (smartlimit.Limit, error) {
	if f.limit == "" {
		return smartlimit.Limit{}, usagef("--limit is required, like --limit 10/s")
	}
	l, err := smartlimit.ParseLimit(f.limit)
	if err != nil {
		return l, &usageError{fmt.Errorf("--limit: %w", err)}
	}
	if f.algorithm != "" {
		if l.Algorithm, err = smartlimit.ParseAlgorithm(f.algorithm); err != nil {
			return l, &usageError{fmt.Errorf("--algorithm: %w", err)}
		}
	}
	if f.burst != 0 {
		l.Burst = f.burst
	}
	if err := l.Validate(); err != nil {
		return l, &usageError{err}
	}
	return l, nil
}

// formatDuration formats a Result duration for people and for JSON: Go's
// Duration.String, which time.ParseDuration reads back exactly, or "never"
// for smartlimit.Never.
func formatDuration(d time.Duration) string {
	if d == smartlimit.Never {
		return "never"
	}
	return d.String()
}

// ResultJSON is a smartlimit.Result as the commands print it in JSON.
type ResultJSON struct {
	Allowed    bool   `json:"allowed"`
	Limit      int64  `json:"limit"`
	Remaining  int64  `json:"remaining"`
	ResetAfter string `json:"reset_after"`
	RetryAfter string `json:"retry_after"`
	Delay      string `json:"delay"`
	Tier       string `json:"tier"`
}

func toJSONResult(r smartlimit.Result) ResultJSON {
	return ResultJSON{
		Allowed:    r.Allowed,
		Limit:      r.Limit,
		Remaining:  r.Remaining,
		ResetAfter: formatDuration(r.ResetAfter),
		RetryAfter: formatDuration(r.RetryAfter),
		Delay:      formatDuration(r.Delay),
		Tier:       r.Tier,
	}
}

// ceilSeconds rounds d up to whole seconds, as HTTP headers count.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
