package failover

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/smartlimit/smartlimit"
)

// Op names the kind of call an Attempt reports.
type Op string

// The operations.
const (
	OpAllow     Op = "allow"      // AllowN
	OpAllowMany Op = "allow_many" // AllowMany
	OpAllowAll  Op = "allow_all"  // AllowAll
	OpPeek      Op = "peek"       // Peek
	OpAcquire   Op = "acquire"    // Acquire
	OpRelease   Op = "release"    // Lease.Release
	OpReset     Op = "reset"      // Reset
	OpProbe     Op = "probe"      // a health check
)

// Attempt describes one call to a tier, or one answer of the policy when
// no tier could answer.
type Attempt struct {
	// Tier is the tier's name, or, when Fallback is set, the Tier of the
	// policy's Result (TierFailOpen, TierFailClosed, or the Local
	// limiter's tier).
	Tier string
	// Op is the kind of call.
	Op Op
	// Latency is how long the call took by Options.Clock.
	Latency time.Duration
	// Err is the call's error; nil on success.
	Err error
	// Counted reports whether Err counted against the tier's breaker. Bad
	// input, the caller's own cancellation and per-request errors
	// (smartlimit.ErrNotDecided) do not count.
	Counted bool
	// TimedOut reports whether the call ran into the tier's deadline.
	TimedOut bool
	// Allowed is the decision, for the calls that make one (allow,
	// allow_all, peek, acquire) when Err is nil.
	Allowed bool
	// Fallback reports whether the policy answered because no tier could.
	Fallback bool
}

// StateChange describes one transition of a tier's breaker.
type StateChange struct {
	// Tier is the tier's name.
	Tier string
	// From and To are the states before and after.
	From, To BreakerState
	// Cooldown is, when To is Open, how long the breaker stays open.
	Cooldown time.Duration
	// Err is, when To is Open, the error that opened it.
	Err error
}

// Hook receives what the Coordinator does, for logs and metrics. Either
// field may be nil. The functions are called synchronously, on the
// caller's goroutine (or a health-check goroutine), so they must be quick
// and must not block; they may be called concurrently.
type Hook struct {
	// StateChange is called after a tier's breaker changed state.
	StateChange func(ctx context.Context, c StateChange)
	// Attempt is called after every call to a tier and every answer of
	// the policy.
	Attempt func(ctx context.Context, a Attempt)
}

// SlogHook returns a Hook that logs to l: breakers opening at Warn, other
// transitions at Info, failed calls and policy answers at Warn,
// per-request errors (smartlimit.ErrNotDecided) at Info, successful calls
// at Debug.
func SlogHook(l *slog.Logger) Hook {
	return Hook{
		StateChange: func(ctx context.Context, c StateChange) {
			level := slog.LevelInfo
			attrs := []slog.Attr{slog.String("tier", c.Tier), slog.String("from", c.From.String()), slog.String("to", c.To.String())}
			if c.To == Open {
				level = slog.LevelWarn
				attrs = append(attrs, slog.Duration("cooldown", c.Cooldown))
				if c.Err != nil {
					attrs = append(attrs, slog.String("error", c.Err.Error()))
				}
			}
			l.LogAttrs(ctx, level, "failover: breaker "+c.To.String(), attrs...)
		},
		Attempt: func(ctx context.Context, a Attempt) {
			level, msg := slog.LevelDebug, "failover: tier answered"
			switch {
			case a.Fallback:
				level, msg = slog.LevelWarn, "failover: no tier answered; policy decided"
			case !a.Counted && errors.Is(a.Err, smartlimit.ErrNotDecided):
				// Per key, and a flood of new keys makes many: not a warning.
				level, msg = slog.LevelInfo, "failover: tier could not decide the request; next tier asked"
			case a.Err != nil:
				level, msg = slog.LevelWarn, "failover: tier failed"
			}
			if !l.Enabled(ctx, level) {
				return // spare the attributes on the hot path
			}
			attrs := []slog.Attr{slog.String("tier", a.Tier), slog.String("op", string(a.Op)), slog.Duration("latency", a.Latency)}
			if a.Err != nil {
				attrs = append(attrs, slog.String("error", a.Err.Error()), slog.Bool("counted", a.Counted), slog.Bool("timed_out", a.TimedOut))
			} else if a.Op != OpProbe && a.Op != OpReset && a.Op != OpRelease && a.Op != OpAllowMany {
				attrs = append(attrs, slog.Bool("allowed", a.Allowed))
			}
			l.LogAttrs(ctx, level, msg, attrs...)
		},
	}
}
