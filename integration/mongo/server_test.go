// Package mongo_test runs the mongo tier (package mongostore) against a
// server: the one SMARTLIMIT_MONGO_URI names, or else an embedded FerretDB
// v1 on SQLite in a temporary directory. It is a module of its own so that
// FerretDB's heavy build stays out of the core and the Redis suites.
//
// FerretDB v1 is a functional stand-in only: its updates are
// read-modify-write without isolation, so concurrent conditional updates
// can all "succeed" (measured: 8 writers × 50 $inc ended at 38). Tests of
// atomicity under concurrency therefore run only on a real MongoDB and
// skip, saying why, on FerretDB. testcontainers is not used: no Docker
// engine runs here.
package mongo_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit/internal/testkit"
	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/mongostore"
)

// URIEnv names a MongoDB server to test against instead of FerretDB.
const URIEnv = "SMARTLIMIT_MONGO_URI"

// requireEnv turns a server that cannot be had into a failure (CI sets it).
const requireEnv = "SMARTLIMIT_REQUIRE_INTEGRATION"

// unavailable skips tb, or fails it when requireEnv is set.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(requireEnv) != "" {
		tb.Fatalf(format+" (and "+requireEnv+" is set, so integration tests are required)", args...)
	}
	tb.Skipf(format, args...)
}

// server is a MongoDB-wire server for one test, reached through a proxy
// that Stop cuts.
type server struct {
	URI    string // the proxy's address, with directConnection=true
	Ferret bool   // an embedded FerretDB v1: no TTL, no safe concurrent updates
	Client *mongo.Client
	db     string
	n      atomic.Int64
	proxy  *proxy // nil when the URI has several hosts or is mongodb+srv
}

// startServer returns the server for tb: SMARTLIMIT_MONGO_URI's, with a
// database of tb's own, or a FerretDB started for tb on a free loopback
// port. Everything is stopped when tb ends.
func startServer(tb testing.TB) *server {
	tb.Helper()
	s := &server{db: "smartlimit_test_" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	uri := os.Getenv(URIEnv)
	if uri == "" {
		s.Ferret = true
		var stop func()
		uri, stop = startFerret(tb)
		tb.Cleanup(stop) // runs after the client's Disconnect below
	}
	s.URI = uri
	if u, err := url.Parse(uri); err == nil && u.Scheme == "mongodb" && !strings.Contains(u.Host, ",") {
		target := u.Host
		if u.Port() == "" {
			target = net.JoinHostPort(u.Hostname(), "27017")
		}
		s.proxy = startProxy(tb, target)
		u.Host = s.proxy.Addr()
		q := u.Query()
		q.Set("directConnection", "true")
		u.RawQuery = q.Encode()
		s.URI = u.String()
	}
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		unavailable(tb, "mongo: connect to %s: %v", s.URI, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx, nil); err != nil {
		_ = c.Disconnect(ctx)
		unavailable(tb, "mongo: no server answers at %s: %v", s.URI, err)
	}
	s.Client = c
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !s.Ferret && !s.stopped() {
			_ = c.Database(s.db).Drop(ctx) // a shared server: leave nothing behind
		}
		_ = c.Disconnect(ctx)
	})
	return s
}

// startFerret runs an embedded FerretDB v1 on SQLite files in a temporary
// directory (SQLite's mode=memory hangs on updates) with synchronous writes
// off, on a free port of 127.0.0.1. It returns the URI and a stop function
// that waits for the server to end.
func startFerret(tb testing.TB) (uri string, stop func()) {
	tb.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler:   "sqlite",
		SQLiteURL: "file:" + tb.TempDir() + "/?_pragma=synchronous(off)",
	})
	if err != nil {
		unavailable(tb, "mongo: cannot start an embedded FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	var once atomic.Bool
	return f.MongoDBURI(), func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			<-done
		}
	}
}

// Stop cuts the server off from the test's clients, as an outage would. It
// reports whether it could (not for a URI of several hosts).
func (s *server) Stop() bool {
	if s.proxy == nil {
		return false
	}
	s.proxy.Stop()
	return true
}

func (s *server) stopped() bool {
	if s.proxy == nil {
		return false
	}
	s.proxy.mu.Lock()
	defer s.proxy.mu.Unlock()
	return s.proxy.closed
}

// Collection returns a new, empty collection of the test's database.
func (s *server) Collection() *mongo.Collection {
	return s.Client.Database(s.db).Collection("limits_" + strconv.FormatInt(s.n.Add(1), 10))
}

// clock is the tests' settable clock.
type clock = testkit.Clock

var newClock = testkit.NewClock

// newStore returns a Store on a fresh collection of srv, on a clock at
// limitertest.T0 unless opts has one.
func newStore(tb testing.TB, srv *server, opts mongostore.Options) (*mongostore.Store, *clock) {
	tb.Helper()
	c := newClock(limitertest.T0)
	if opts.Clock == nil {
		opts.Clock = c.Now
	}
	st, err := mongostore.New(srv.Collection(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return st, c
}

// rawDoc reads a document as stored.
func rawDoc(tb testing.TB, coll *mongo.Collection, id string) bson.M {
	tb.Helper()
	var m bson.M
	if err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&m); err != nil {
		tb.Fatalf("find %q: %v", id, err)
	}
	return m
}

// skipOnFerret skips a test that needs MongoDB's atomic single-document
// updates, which FerretDB v1 does not have.
func skipOnFerret(tb testing.TB, srv *server, what string) {
	tb.Helper()
	if srv.Ferret {
		tb.Skipf("%s needs a real MongoDB (set %s): FerretDB v1 loses concurrent updates (8 writers × 50 $inc ended at 38), so it would pass a broken limiter or fail a correct one", what, URIEnv)
	}
}

// newLogger returns a logger that writes text lines to w.
func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
