package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMongo(t *testing.T) {
	e := map[string]string{"SMARTLIMIT_MONGO_DB": "envdb"}
	var m mongoCmdOptions
	args := []string{"cleanup", "--mongo", "mongodb+srv://cluster0.example.net/?retryWrites=true", "--mongo-collection", "ratelimits", "--timeout", "7s", "--json"}
	if err := newMongoCmd(&m).parse(args, env(e)); err != nil {
		t.Fatal(err)
	}
	want := mongoCmdOptions{Action: "cleanup", Timeout: 7 * time.Second, JSON: true,
		Mongo: mongoOptions{URI: "mongodb+srv://cluster0.example.net/?retryWrites=true", DB: "envdb", Collection: "ratelimits"}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("mongo %q:\n got %+v\nwant %+v", args, m, want)
	}
}

func TestParseMongoErrors(t *testing.T) {
	testUsageErrors(t, []usageCase{
		{"mongo", nil, nil, "missing action"},
		{"mongo", []string{"compact", "--mongo", "mongodb://h:1"}, nil, "unknown action"},
		{"mongo", []string{"indexes"}, nil, "--mongo is required"},
		{"mongo", []string{"cleanup", "extra", "--mongo", "mongodb://h:1"}, nil, "takes no arguments"},
		{"mongo", []string{"cleanup", "--mongo", "mongodb://h:1", "--timeout", "0s"}, nil, "--timeout"},
		{"mongo", []string{"indexes"}, map[string]string{"SMARTLIMIT_MONGO_URI": "redis://h:1"}, "want a mongodb://"},
	})
	// A usage error exits 2 and says so on stderr, like every command's.
	var out, errb bytes.Buffer
	if code := runEnv(context.Background(), []string{"mongo", "indexes"}, &out, &errb, env(nil)); code != exitError || !strings.Contains(errb.String(), "usage: smartlimit mongo") {
		t.Errorf("mongo indexes without --mongo: exit %d, stderr %q", code, errb.String())
	}
}

func TestMongoCommandUnreachable(t *testing.T) {
	for _, action := range []string{"indexes", "cleanup"} {
		var out, errb bytes.Buffer
		start := time.Now()
		code := runEnv(context.Background(), []string{"mongo", action, "--mongo", "mongodb://u:s3cret@" + closedPort(t), "--timeout", "1s"}, &out, &errb, env(nil))
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("mongo %s took %v with --timeout 1s", action, took)
		}
		if code != exitError || !strings.Contains(errb.String(), "connection refused") || strings.Contains(errb.String(), "s3cret") {
			t.Errorf("mongo %s on a closed port: exit %d, stderr %q", action, code, errb.String())
		}
	}
}
