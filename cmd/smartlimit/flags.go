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

// formatDuration formats a Result duration for people: Go's
// Duration.String, or "never" for smartlimit.Never.
func formatDuration(d time.Duration) string {
	if d == smartlimit.Never {
		return "never"
	}
	return d.String()
}

// usDuration is a duration as every JSON output of the command writes it:
// a whole number of microseconds, in a field whose name ends in _us, or
// the string "never" for smartlimit.Never. It rounds up, so that a
// retry_after_us is never early; the engine's durations are whole
// microseconds anyway.
type usDuration time.Duration

// MarshalJSON writes d in microseconds, or "never".
func (d usDuration) MarshalJSON() ([]byte, error) {
	if time.Duration(d) == smartlimit.Never {
		return []byte(`"never"`), nil
	}
	return strconv.AppendInt(nil, ceilMicros(time.Duration(d)), 10), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *usDuration) UnmarshalJSON(b []byte) error {
	if string(b) == `"never"` {
		*d = usDuration(smartlimit.Never)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("a duration in µs or \"never\": %w", err)
	}
	*d = usDuration(time.Duration(n) * time.Microsecond)
	return nil
}

// ceilMicros rounds d up to whole microseconds.
func ceilMicros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if d%time.Microsecond > 0 {
		us++
	}
	return us
}

// ResultJSON is a smartlimit.Result as the commands print it in JSON.
type ResultJSON struct {
	Allowed    bool       `json:"allowed"`
	Limit      int64      `json:"limit"`
	Remaining  int64      `json:"remaining"`
	ResetAfter usDuration `json:"reset_after_us"`
	RetryAfter usDuration `json:"retry_after_us"` // "never" when the cost exceeds the capacity
	Delay      usDuration `json:"delay_us"`
	Tier       string     `json:"tier"`
}

func toJSONResult(r smartlimit.Result) ResultJSON {
	return ResultJSON{
		Allowed:    r.Allowed,
		Limit:      r.Limit,
		Remaining:  r.Remaining,
		ResetAfter: usDuration(r.ResetAfter),
		RetryAfter: usDuration(r.RetryAfter),
		Delay:      usDuration(r.Delay),
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
