// Package smartlimit is a distributed rate limiter whose algorithms run
// inside Redis as small, versioned Lua scripts: one atomic step per check,
// like a Redis module command, but loadable on any Redis, Valkey, managed
// service or Cluster. Many checks travel in one pipelined round trip.
//
// Start with a rueidis client and a Client on it:
//
//	rc, _ := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
//	lim, _ := smartlimit.New(rc)
//	r, err := lim.Allow(ctx, "user:42", smartlimit.PerSecond(10))
//
// A Limit says how much may pass (Rate per Period, Burst) and how it is
// counted (Algorithm: GCRA, TokenBucket, FixedWindow, SlidingWindow,
// SlidingWindowCounter, LeakyBucket, Concurrency). A Result says whether the
// request may pass, what remains, and when to retry.
//
// Every tier — this Redis Client, the in-process memfallback store, the
// mongo tier, and the failover coordinator that switches between them —
// implements Limiter and decides the same question the same way, with the
// same exact whole-number arithmetic: at time now, may cost units pass for
// key under limit? The clock of a Redis check is Redis TIME, read inside the
// script, so app servers' clocks never matter (see WithClientClock for
// platforms that refuse TIME in scripts).
//
// For tests of code that uses smartlimit, package smartlimittest provides a
// Client on an in-process miniredis whose clock the test moves.
package smartlimit
