package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit/mongostore"
)

// Environment variables of the mongo flags. SMARTLIMIT_MONGO_URI is also
// the variable that the integration tests (integration/mongo) read.
const (
	envMongoURI        = "SMARTLIMIT_MONGO_URI"
	envMongoDB         = "SMARTLIMIT_MONGO_DB"
	envMongoCollection = "SMARTLIMIT_MONGO_COLLECTION"
)

// Defaults of --mongo-db and --mongo-collection, the names the mongo
// tier's documentation uses (mongostore/README.md).
const (
	defaultMongoDB         = "smartlimit"
	defaultMongoCollection = "limits"
)

// mongoOptions say which collection holds the mongo tier's documents.
type mongoOptions struct {
	// URI is a MongoDB connection string (mongodb:// or mongodb+srv://);
	// "" means no mongo tier.
	URI        string
	DB         string
	Collection string
}

// addMongoFlags defines --mongo, --mongo-db and --mongo-collection on c.
// uriHelp says what --mongo is for in that command.
func addMongoFlags(c *command, o *mongoOptions, uriHelp string) {
	c.Flag.StringVar(&o.URI, "mongo", "", "MongoDB connection `URI` (mongodb://, mongodb+srv://) "+uriHelp)
	c.Flag.StringVar(&o.DB, "mongo-db", defaultMongoDB, "the `database` of the mongo tier's collection")
	c.Flag.StringVar(&o.Collection, "mongo-collection", defaultMongoCollection, "the `collection` that holds the mongo tier's documents")
	c.bindEnv("mongo", envMongoURI)
	c.bindEnv("mongo-db", envMongoDB)
	c.bindEnv("mongo-collection", envMongoCollection)
}

// check reports bad mongo flags as a usage error; required says whether
// --mongo must be given. A mongodb+srv URI is only checked when used,
// because reading it means a DNS lookup.
func (o *mongoOptions) check(required bool) error {
	if o.URI == "" {
		if required {
			return usagef("--mongo is required (or $%s)", envMongoURI)
		}
		return nil
	}
	switch {
	case strings.HasPrefix(o.URI, "mongodb://"):
		if err := options.Client().ApplyURI(o.URI).Validate(); err != nil {
			return usagef("--mongo %s: %s", redactMongoURI(o.URI), o.scrub(err))
		}
	case strings.HasPrefix(o.URI, "mongodb+srv://"):
	default:
		return usagef("--mongo %s: want a mongodb:// or mongodb+srv:// URI", redactMongoURI(o.URI))
	}
	if o.DB == "" || strings.ContainsAny(o.DB, `/\. "$`) {
		return usagef("--mongo-db %q: not a database name", o.DB)
	}
	if o.Collection == "" || strings.HasPrefix(o.Collection, "system.") || strings.Contains(o.Collection, "$") {
		return usagef("--mongo-collection %q: not a collection name", o.Collection)
	}
	return nil
}

// Namespace returns "database.collection".
func (o mongoOptions) Namespace() string { return o.DB + "." + o.Collection }

// connectMongo returns a client for o.URI, whose server selection (the wait
// for a server that answers) takes at most timeout, and a Store on the
// collection o names. Disconnect the client with disconnectMongo.
func connectMongo(o mongoOptions, timeout time.Duration, log *slog.Logger) (*mongo.Client, *mongostore.Store, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(o.URI).
		SetAppName("smartlimit").
		SetServerSelectionTimeout(timeout))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %s", redactMongoURI(o.URI), o.scrub(err))
	}
	st, err := mongostore.New(client.Database(o.DB).Collection(o.Collection), mongostore.Options{Logger: log})
	if err != nil {
		disconnectMongo(client)
		return nil, nil, err
	}
	return client, st, nil
}

// disconnectMongo closes c's connections, waiting at most a second: the
// command is done with it, whatever its context says.
func disconnectMongo(c *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Disconnect(ctx)
}

// redactMongoURI returns u with its password, and the query options that
// carry secrets, replaced by "xxxxx", for messages. It does not use
// url.Parse, which refuses a MongoDB URI's list of hosts (h1:27017,h2:27017).
func redactMongoURI(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(unparsable URI)" // it may hold a password we cannot find
	}
	// The last '@' ends the user info (an '@' in a password must be
	// escaped); if it was in the query instead, more is hidden, not less.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	return scheme + "://" + secretOptions.ReplaceAllString(rest, "${1}=xxxxx")
}

// secretOptions are the URI options whose values are secrets.
var secretOptions = regexp.MustCompile(`(?i)\b(tlsCertificateKeyFilePassword|authMechanismProperties)=[^&]*`)

// scrub returns err's message with o.URI's password hidden, for driver
// errors that might quote it.
func (o mongoOptions) scrub(err error) string {
	msg := err.Error()
	_, rest, _ := strings.Cut(o.URI, "://")
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return msg
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok || pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	if plain, err := url.PathUnescape(pw); err == nil && plain != "" {
		msg = strings.ReplaceAll(msg, plain, "xxxxx")
	}
	return msg
}

// listIndexes lists coll's indexes; a collection that does not exist yet
// has none.
func listIndexes(ctx context.Context, coll *mongo.Collection) ([]mongo.IndexSpecification, error) {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		const namespaceNotFound = 26
		var se mongo.ServerError
		if errors.As(err, &se) && se.HasErrorCode(namespaceNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return specs, nil
}

// hasTTLIndex reports whether specs hold a TTL index on expireAt alone,
// which is what deletes the tier's expired documents (any expireAfterSeconds
// does; EnsureIndexes sets 0).
func hasTTLIndex(specs []mongo.IndexSpecification) bool {
	return slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool {
		return s.ExpireAfterSeconds != nil && onExpireAt(s)
	})
}

// hasPlainIndex reports whether specs hold mongostore's ordinary index on
// expireAt, which EnsureIndexes creates where the server refused the TTL
// index.
func hasPlainIndex(specs []mongo.IndexSpecification) bool {
	return slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool {
		return s.ExpireAfterSeconds == nil && onExpireAt(s)
	})
}

func onExpireAt(s mongo.IndexSpecification) bool {
	elems, err := bson.Raw(s.KeysDocument).Elements()
	return err == nil && len(elems) == 1 && elems[0].Key() == "expireAt"
}
