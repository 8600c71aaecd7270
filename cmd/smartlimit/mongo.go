package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// defaultMongoTimeout bounds a mongo command: creating an index or deleting
// many documents can take longer than a health check may.
const defaultMongoTimeout = time.Minute

// mongoCmdOptions are the options of the mongo command.
type mongoCmdOptions struct {
	Action  string // "indexes" or "cleanup"
	Mongo   mongoOptions
	Timeout time.Duration
	JSON    bool

	Stdout io.Writer
}

func newMongoCmd(o *mongoCmdOptions) *command {
	c := &command{
		UsageLine: "mongo indexes | cleanup [--json] [--timeout D] --mongo URI [--mongo-db DB] [--mongo-collection NAME]",
		Short:     "create the MongoDB tier's indexes; delete its expired documents",
		Long: `Mongo maintains the collection of the MongoDB tier (package mongostore).

	indexes  create the TTL index on expireAt (mongostore's EnsureIndexes),
	         so that the server deletes each document once its limit is
	         back to full and unused. It is idempotent: run it at deploy.
	         A server that refuses TTL indexes (FerretDB v1, for one) gets
	         an ordinary index on expireAt instead; the command says so and
	         still exits 0, and then "mongo cleanup" must run periodically.
	cleanup  delete every document whose expireAt has passed (mongostore's
	         Cleanup) and print how many. Where the server has no TTL index,
	         run it every few minutes (cron, a Kubernetes CronJob); deleting
	         an expired document changes no decision.

"smartlimit health --mongo URI" reports whether the TTL index is there.`,
		Flag: flagSet("mongo"),
	}
	c.Flag.BoolVar(&o.JSON, "json", false, "print JSON")
	c.Flag.DurationVar(&o.Timeout, "timeout", defaultMongoTimeout, "give up after this `duration` in all")
	addMongoFlags(c, &o.Mongo, "(required)")
	c.Args = func(args []string) error {
		if len(args) == 0 {
			return usagef("missing action: indexes or cleanup")
		}
		o.Action = args[0]
		if o.Action != "indexes" && o.Action != "cleanup" {
			return usagef("unknown action %q: want indexes or cleanup", o.Action)
		}
		if len(args) > 1 {
			return usagef("mongo %s takes no arguments, got %q", o.Action, args[1])
		}
		if o.Timeout <= 0 {
			return usagef("--timeout must be positive")
		}
		return o.Mongo.check(true)
	}
	c.Run = func(ctx context.Context) error { return runMongo(ctx, *o) }
	return c
}

// MongoIndexesJSON is what "mongo indexes --json" prints.
type MongoIndexesJSON struct {
	Target     string `json:"target"`     // the URI, without its password
	Collection string `json:"collection"` // database.collection
	// TTLIndex reports whether the collection has a TTL index on expireAt
	// now.
	TTLIndex bool `json:"ttl_index"`
	// TTLRefused is the server's answer when it refused the TTL index.
	TTLRefused string `json:"ttl_refused,omitempty"`
	// Created names the indexes this run created; [] when all were there.
	// (The _id_ index that comes with a new collection is not counted.)
	Created []string `json:"created"`
	// Indexes names every index of the collection after the run.
	Indexes []string `json:"indexes"`
}

// MongoCleanupJSON is what "mongo cleanup --json" prints.
type MongoCleanupJSON struct {
	Target     string `json:"target"`     // the URI, without its password
	Collection string `json:"collection"` // database.collection
	// Deleted is the number of expired documents deleted.
	Deleted int64 `json:"deleted"`
}

func runMongo(ctx context.Context, o mongoCmdOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	refusal := &refusalHandler{}
	client, st, err := connectMongo(o.Mongo, o.Timeout, slog.New(refusal))
	if err != nil {
		return err
	}
	defer disconnectMongo(client)
	target := redactMongoURI(o.Mongo.URI)
	fail := func(what string, err error) error {
		return fmt.Errorf("%s on %s: %s", what, target, o.Mongo.scrub(err))
	}

	if o.Action == "cleanup" {
		n, err := st.Cleanup(ctx)
		if err != nil {
			return fail("cleanup of "+o.Mongo.Namespace(), err)
		}
		if o.JSON {
			return writeJSON(o.Stdout, MongoCleanupJSON{Target: target, Collection: o.Mongo.Namespace(), Deleted: n})
		}
		_, err = fmt.Fprintf(o.Stdout, "%s: deleted %d expired %s\n", o.Mongo.Namespace(), n, plural(int(n), "document", "documents"))
		return err
	}

	before, err := listIndexes(ctx, st.Collection())
	if err != nil {
		return fail("listIndexes", err)
	}
	if err := st.EnsureIndexes(ctx); err != nil {
		return fail("creating indexes", err)
	}
	after, err := listIndexes(ctx, st.Collection())
	if err != nil {
		return fail("listIndexes", err)
	}
	rep := MongoIndexesJSON{Target: target, Collection: o.Mongo.Namespace(), TTLIndex: hasTTLIndex(after),
		TTLRefused: refusal.reason, Created: []string{}, Indexes: []string{}}
	for _, ix := range after {
		rep.Indexes = append(rep.Indexes, ix.Name)
		// _id_ comes with the collection, which the first index creates.
		if ix.Name != "_id_" && !slices.ContainsFunc(before, func(b mongo.IndexSpecification) bool { return b.Name == ix.Name }) {
			rep.Created = append(rep.Created, ix.Name)
		}
	}
	if o.JSON {
		return writeJSON(o.Stdout, rep)
	}
	w := o.Stdout
	switch {
	case rep.TTLIndex && len(rep.Created) == 0:
		fmt.Fprintf(w, "%s: the TTL index on expireAt is there already; nothing to do\n", rep.Collection)
	case rep.TTLIndex:
		fmt.Fprintf(w, "%s: created %s: the server deletes each document once its limit is back to full\n", rep.Collection, strings.Join(rep.Created, ", "))
	default:
		reason := rep.TTLRefused
		if reason == "" {
			reason = "no reason given"
		}
		fmt.Fprintf(w, "%s: the server refused a TTL index on expireAt: %s\n", rep.Collection, reason)
		if len(rep.Created) > 0 {
			fmt.Fprintf(w, "created %s, an ordinary index on expireAt, instead\n", strings.Join(rep.Created, ", "))
		}
		fmt.Fprintln(w, `expired documents stay until deleted: run "smartlimit mongo cleanup" every few minutes`)
	}
	fmt.Fprintf(w, "indexes: %s\n", strings.Join(rep.Indexes, ", "))
	return nil
}

// refusalHandler is the slog.Handler of the Store that mongo indexes uses:
// mongostore logs (and does not return) the server's refusal of a TTL
// index, and the command reports it.
type refusalHandler struct{ reason string }

func (h *refusalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *refusalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *refusalHandler) WithGroup(string) slog.Handler            { return h }

func (h *refusalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			h.reason = a.Value.String()
		}
		return true
	})
	if h.reason == "" {
		h.reason = r.Message
	}
	return nil
}
