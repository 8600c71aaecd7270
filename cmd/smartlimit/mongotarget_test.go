package main

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestMongoURIsHidePasswords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mongodb://h:27017", "mongodb://h:27017"},
		{"mongodb://bob@h:27017/db", "mongodb://bob@h:27017/db"},
		{"mongodb://bob:s3cret@h1:27017,h2:27017/db?replicaSet=rs0", "mongodb://bob:xxxxx@h1:27017,h2:27017/db?replicaSet=rs0"},
		{"mongodb+srv://bob:p%40ss@cluster0.example.net/?tls=true", "mongodb+srv://bob:xxxxx@cluster0.example.net/?tls=true"},
		{"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok&w=1", "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx&w=1"},
		{"mongodb://h/?tls=true&tlsCertificateKeyFilePassword=hunter2", "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=xxxxx"},
		{"h:27017", "(unparsable URI)"},
	} {
		if got := redactMongoURI(tc.in); got != tc.want {
			t.Errorf("redactMongoURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Usage errors name the URI without its password.
	for _, u := range []string{"mongodb://u:s3cret@h:port", "mongodb://u:s3cret@h:1/?w=-7", "mongodb://u:s3cret@h:1/?connectTimeoutMS=x"} {
		var o healthOptions
		err := newHealthCmd(&o).parse([]string{"--mongo", u}, env(nil))
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("--mongo %s: error %v", u, err)
		}
	}
	o := mongoOptions{URI: "mongodb://u:p%40ss@h:1"}
	if got := o.scrub(errors.New("auth failed for p@ss and p%40ss")); got != "auth failed for xxxxx and xxxxx" {
		t.Errorf("scrub = %q", got)
	}
}

func TestTTLIndexSpecs(t *testing.T) {
	keys := func(d bson.D) bson.Raw {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	zero := int32(0)
	id := mongo.IndexSpecification{Name: "_id_", KeysDocument: keys(bson.D{{Key: "_id", Value: 1}})}
	ttl := mongo.IndexSpecification{Name: "smartlimit_expireAt_ttl", KeysDocument: keys(bson.D{{Key: "expireAt", Value: 1}}), ExpireAfterSeconds: &zero}
	plain := mongo.IndexSpecification{Name: "smartlimit_expireAt", KeysDocument: keys(bson.D{{Key: "expireAt", Value: 1}})}
	compound := mongo.IndexSpecification{Name: "c", KeysDocument: keys(bson.D{{Key: "expireAt", Value: 1}, {Key: "v", Value: 1}}), ExpireAfterSeconds: &zero}
	for _, tc := range []struct {
		specs      []mongo.IndexSpecification
		ttl, plain bool
	}{
		{nil, false, false},
		{[]mongo.IndexSpecification{id}, false, false},
		{[]mongo.IndexSpecification{id, ttl}, true, false},
		{[]mongo.IndexSpecification{id, plain}, false, true},
		// MongoDB ignores expireAfterSeconds on a compound index.
		{[]mongo.IndexSpecification{id, compound}, false, false},
	} {
		if got := hasTTLIndex(tc.specs); got != tc.ttl {
			t.Errorf("hasTTLIndex(%v) = %v", names(tc.specs), got)
		}
		if got := hasPlainIndex(tc.specs); got != tc.plain {
			t.Errorf("hasPlainIndex(%v) = %v", names(tc.specs), got)
		}
	}
}

func names(specs []mongo.IndexSpecification) []string {
	var s []string
	for _, x := range specs {
		s = append(s, x.Name)
	}
	return s
}
