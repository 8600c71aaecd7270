// Package mongostore is smartlimit's MongoDB tier: the same algorithms as
// the Lua scripts and memfallback, over one document per key and limit, for
// services that run MongoDB as their shared store or as the failover
// target behind Redis. Its package name is not mongo, so that it sits
// beside the driver's mongo package in every import block.
//
//	client, _ := mongo.Connect(options.Client().ApplyURI(uri))
//	s, _ := mongostore.New(client.Database("smartlimit").Collection("limits"), mongostore.Options{})
//	_ = s.EnsureIndexes(ctx)
//	r, err := s.AllowN(ctx, "alice", smartlimit.PerSecond(10), 1)
//
// # Design: read, decide, conditional write
//
// A check reads the key's document, runs the shared step function
// (smartlimit/internal/algo, the integer formulas the scripts compute) on
// its state, and, when the request consumed something, writes the new state
// back with an update whose filter names the write it read, by the random
// token w that every write stores (versions would not do: a document
// deleted by Reset or its TTL and created again restarts at v 1):
//
//	updateOne({_id: ID, w: W}, {$set: {v: V+1, w: <new token>, expireAt: ..., <state>}}, {upsert: true})
//
// (a check that found no document writes on {_id: ID, v: 0}, which no
// stored document matches).
//
// When another writer got there first the filter matches nothing, so the
// upsert tries to insert a second document with the same _id and fails
// with a duplicate-key error: that is how a lost race shows, also for the
// first write of a new key and per item in a bulk write. The check then
// waits a moment (exponential backoff with full jitter) and decides again
// on fresh state, at most Options.MaxRetries times, and then returns
// ErrContention, which a failover coordinator answers on its next tier
// without counting it as the tier failing.
// Denials and cost-0 checks write nothing.
//
// The alternative, one update with an aggregation pipeline that computes
// the new state on the server from $$NOW, would save a round trip, but it
// works on MongoDB alone: Amazon DocumentDB, Azure Cosmos DB's API for
// MongoDB and FerretDB refuse pipeline updates or $$NOW (FerretDB v1
// answers NotImplemented), and it would need every algorithm written a
// third time, in MQL, where it could drift from the Lua and Go versions.
// Read, decide, conditional write uses only find, updateOne with upsert and
// the duplicate-key error, which all of them have, and decides with the
// very code memfallback runs.
//
// The conditional write is only as atomic as the server's single-document
// update. MongoDB's is; FerretDB v1's is not (concurrent updates are lost),
// so on FerretDB this tier is correct for one writer at a time only.
//
// # Documents
//
// The _id is the Redis key without its prefix, {KEY}:ALGORITHM:R:P:CAPACITY:vN,
// so 10/s and 20/2s share state as in Redis, a changed limit starts fresh,
// and a new document format (vN) never reads an old one. Beside the state
// (a, b, c for the fixed-size algorithms; t, u and n, the log of a sliding
// window; ids, dl and hw, the leases of a concurrency limit) each document
// holds its version v, the random token w of the write that stored it
// (after a bulk write that reported errors, the tokens, not the error
// indexes, tell which writes took effect), and expireAt, the instant its
// limit is back to full and unused.
// A TTL index on expireAt (EnsureIndexes) deletes idle documents; where the
// server has no TTL indexes, Cleanup does. The smartlimit command runs both
// ("smartlimit mongo indexes", "smartlimit mongo cleanup") and checks the
// tier ("smartlimit health --mongo URI").
//
// # Clocks
//
// Redis checks read Redis's clock; this tier, like memfallback, uses the
// app server's (Options.Clock), because the servers it must run on cannot
// compute with their own clock inside an update. So clock skew between app
// servers matters here: a server whose clock runs δ ahead sees δ more
// refill than the others and admits up to about δ·rate more; one that runs
// behind is stricter by as much. Fixed windows roll over δ early or late on
// that server. The step functions never let a key's time run backwards
// (the monotonic guards), so a lagging server does not undo another's
// charges, but it does not catch up either. With NTP-synchronized clocks
// (skew of milliseconds) this is far below any limit's period that is
// worth enforcing across servers; with seconds of skew, prefer the Redis
// tier for short periods.
package mongostore
