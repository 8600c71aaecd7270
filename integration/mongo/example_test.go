package mongo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/mongostore"
)

// Example checks a limit of 3 a minute on the mongo tier, on the server
// SMARTLIMIT_MONGO_URI names or else an embedded FerretDB.
func Example() {
	uri, stop, err := exampleServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Disconnect(ctx)
	coll := client.Database("smartlimit_example").Collection("limits_" + strconv.FormatInt(time.Now().UnixNano(), 36))
	defer coll.Drop(ctx)

	s, err := mongostore.New(coll, mongostore.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), // FerretDB has no TTL indexes: EnsureIndexes warns
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		fmt.Println(err)
		return
	}
	for range 4 {
		r, err := s.Allow(ctx, "alice", smartlimit.PerMinute(3))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.Allowed, r.Remaining, r.Tier)
	}
	// Output:
	// true 2 mongo
	// true 1 mongo
	// true 0 mongo
	// false 0 mongo
}

// exampleServer returns SMARTLIMIT_MONGO_URI, or starts an embedded
// FerretDB in a temporary directory and returns its URI and a stop
// function that removes it.
func exampleServer() (uri string, stop func(), err error) {
	if uri := os.Getenv(URIEnv); uri != "" {
		return uri, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "smartlimit-ferret")
	if err != nil {
		return "", nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(off)",
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	return f.MongoDBURI(), func() { cancel(); <-done; os.RemoveAll(dir) }, nil
}
