// Package failover puts several rate-limiting tiers behind one
// smartlimit.Limiter, so that a slow or dead Redis neither hangs the
// service nor silently stops protecting it.
//
// A Coordinator asks its tiers in order (for example redis → mongo →
// memory) and answers from the first that can:
//
//	c, err := failover.New([]failover.Tier{
//		{Name: smartlimit.TierRedis, Limiter: redisClient},
//		{Name: smartlimit.TierMemory, Limiter: memStore},
//	}, failover.Options{})
//	defer c.Close()
//	r, err := c.Allow(ctx, "login:"+user, smartlimit.PerMinute(5))
//
// Each call to a tier has its own deadline (Options.Timeout, 50ms by
// default), so a tier that hangs costs a caller at most that, never a
// client library's long default. Each tier has a circuit breaker: after
// Failures consecutive failures, or an error rate over a window, it opens
// and traffic skips the tier at no cost; after a cooldown that grows
// exponentially, with jitter, while the tier stays down, a few probes go
// through, and when they succeed the tier takes traffic again. Timeouts
// and connection errors count; bad input (smartlimit.ErrInvalidLimit,
// ErrInvalidKey, ErrInvalidCost) does not, and is returned to the caller at
// once, before any tier is asked. A caller's own context ending does not
// count either, so a caller whose deadline is shorter than the tier's
// Timeout gets its context's error, and the tier is judged by the
// background health checks, which run a real check on each tier (AllowN of
// a probe key with cost 0: on Redis an EVALSHA of the script, not a PING)
// and so open a breaker before user traffic finds the tier down, and close
// it when the tier is back. Health reports each tier's state.
//
// # Per-request errors are not outages
//
// A breaker counts only failures of the tier itself: timeouts, connection
// and server errors. An error that matches smartlimit.ErrNotDecided (with
// errors.Is) is the condition of one request on a working tier — a full
// memfallback table (memfallback.ErrFull), one document too contended in
// MongoDB (mongostore.ErrContention), a limit the tier cannot hold — and
// never counts: that request alone goes on to the next tier, and, when
// none answers it, to the policy, while the tier keeps deciding every
// other key. So a flood of new keys against a full memory tier leaves its
// existing keys limited there. For such a request FailOpen answers as
// FailClosed (Local still decides locally): a policy says what an outage
// means, and a client can bring these conditions about itself, by filling
// the table with keys or hammering one key, so failing open would let it
// through unlimited. A tier of your own marks such errors by
// wrapping smartlimit.ErrNotDecided or with an Is method on its error type.
// In a batch whose failed items all failed that way, the tier's other
// decisions stand and only the failed items go on.
//
// When no tier can answer, a Policy decides, per limit (Options.Policy) or
// per call (WithPolicy): FailClosed denies (the default: a limit guarding a
// login form must not open because Redis is down), FailOpen allows, Local
// decides in an in-process limiter (Options.Local). So the checks (AllowN,
// AllowMany, AllowAll, Peek, Acquire) return an error only for bad input,
// for the caller's context ending, and, as ErrUnsupported, for an
// operation no tier implements: an outage shows in Result.Tier, in Health
// and in the Hook, not as failed requests.
//
// # What failover means for the counts
//
// Each tier keeps its own counters; nothing is copied between them. Right
// after a switch, a key starts fresh on the new tier: a client that had
// used up its limit on Redis gets a full limit again in memory, and when
// traffic returns to Redis it finds the state Redis kept (stale, and
// stricter, after a network partition; empty after a restart without
// persistence). So across one switch a key can pass up to about twice its
// limit within one period. A call that reached a tier and then timed out
// may have counted there too before it is counted again on the next tier,
// which errs the other way.
//
// A memory tier (or the Local policy) lives in each process. With N
// replicas of a service, each one's memory would allow the full limit, and
// the fleet N times the limit, for as long as the outage lasts. The
// memfallback store's LocalShare option shrinks each limit in memory to a
// fraction of it: with LocalShare 1/N, N replicas together refill at no
// more than the limit's rate, but each holds at least one unit, so their
// capacity is within N−1 units of the limit's (5/min on 20 replicas holds
// 20 at once; see memfallback.Options.LocalShare for the exact bound), and
// the excess over one switch stays at about one limit rather than N.
// Choose FailClosed for limits where even that is too much.
//
// Batches (AllowMany) move between tiers as a whole: a tier that fails
// part of a batch, with a *smartlimit.BatchError holding any error other
// than a per-request one, counts as failing the batch, and the whole batch
// is decided again on the next tier.
package failover
