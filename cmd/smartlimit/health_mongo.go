package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit"
)

// checkMongoTier checks the mongo tier that o.Mongo names: ping, version,
// the TTL index, and a check of cost 0 per algorithm through the Store.
func checkMongoTier(ctx context.Context, o healthOptions) TierHealth {
	th := TierHealth{Tier: smartlimit.TierMongo, Status: statusHealthy, Target: redactMongoURI(o.Mongo.URI),
		Collection: o.Mongo.Namespace(), Problems: []string{}, Nodes: []NodeHealth{}, Probes: []ProbeHealth{}}
	problem := func(status, format string, args ...any) {
		th.Problems = append(th.Problems, fmt.Sprintf(format, args...))
		th.Status = worse(th.Status, status)
	}
	// The health check says what EnsureIndexes would log, in its report.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, st, err := connectMongo(o.Mongo, o.Timeout, quiet)
	if err != nil {
		problem(statusDown, "%v", err)
		return th
	}
	defer disconnectMongo(client)

	start := time.Now()
	if err := st.Ping(ctx); err != nil {
		problem(statusDown, "%s", o.Mongo.scrub(err))
		return th
	}
	took := time.Since(start)
	us := took.Microseconds()
	th.LatencyUS = &us
	if took > o.MaxLatency {
		problem(statusDegraded, "ping took %v, more than --max-latency %v", took, o.MaxLatency)
	}

	th.Version = "unknown" // some managed services refuse buildInfo
	var info struct {
		Version         string `bson:"version"`
		FerretDBVersion string `bson:"ferretdbVersion"`
	}
	if err := client.Database(o.Mongo.DB).RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err == nil && info.Version != "" {
		th.Version = info.Version
		switch info.FerretDBVersion {
		case "":
		case "unknown": // an embedded FerretDB built without its version
			th.Version += " (FerretDB)"
		default:
			th.Version += " (FerretDB " + info.FerretDBVersion + ")"
		}
	}

	specs, err := listIndexes(ctx, st.Collection())
	switch {
	case err != nil:
		problem(statusDegraded, "listIndexes on %s: %s", th.Collection, o.Mongo.scrub(err))
	case hasTTLIndex(specs):
		th.TTLIndex = new(true)
	case hasPlainIndex(specs):
		// EnsureIndexes ran, and the server refused the TTL index: expired
		// documents stay until "mongo cleanup" deletes them. That is as
		// good as the server allows, so only a document that has waited
		// longer than --max-expired is a problem: cleanup is not running.
		th.TTLIndex = new(false)
		cutoff := time.Now().Add(-o.MaxExpired).UTC()
		err := st.Collection().FindOne(ctx, bson.D{{Key: "expireAt", Value: bson.D{{Key: "$lt", Value: cutoff}}}},
			options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
		case err != nil:
			problem(statusDegraded, "looking for expired documents in %s: %s", th.Collection, o.Mongo.scrub(err))
		default:
			problem(statusDegraded, "%s has no TTL index on expireAt (the server refused one), and documents expired more than %v ago remain: run \"smartlimit mongo cleanup\" periodically", th.Collection, o.MaxExpired)
		}
	default:
		th.TTLIndex = new(false)
		problem(statusDegraded, "%s has no TTL index on expireAt: expired documents are never deleted: run \"smartlimit mongo indexes\" (or, where the server refuses TTL indexes, \"smartlimit mongo cleanup\" periodically)", th.Collection)
	}

	// Cost 0 consumes nothing and mongostore writes nothing for it, but the
	// read and the decision are those of every check.
	for _, l := range probeLimits() {
		start := time.Now()
		r, err := st.AllowN(ctx, o.ProbeKey, l, 0)
		if err != nil {
			err = fmt.Errorf("%s", o.Mongo.scrub(err))
		}
		p := probeResult(l.Algorithm.String(), "", o.ProbeKey, l.Capacity(), r, err, time.Since(start))
		if p.OK && r.Tier != smartlimit.TierMongo {
			p.OK, p.Error = false, fmt.Sprintf("the reply names tier %q, not %q", r.Tier, smartlimit.TierMongo)
		}
		th.Probes = append(th.Probes, p)
		if !p.OK {
			problem(statusDown, "probe %s on key %q: %s", p.Script, p.Key, p.Error)
		} else if d := time.Duration(p.LatencyUS) * time.Microsecond; d > o.MaxLatency {
			problem(statusDegraded, "probe %s took %v, more than --max-latency %v", p.Script, d, o.MaxLatency)
		}
	}
	return th
}
