package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
)

// The mongo tier against a real server (FerretDB) is tested in
// integration/mongo (cli_test.go), which builds this command; the tests of
// this package need no server.

func TestParseHealthMongo(t *testing.T) {
	var h healthOptions
	if err := newHealthCmd(&h).parse(nil, env(nil)); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Mongo, (mongoOptions{DB: "smartlimit", Collection: "limits"}); got != want {
		t.Errorf("health without --mongo: Mongo = %+v, want %+v (no mongo tier)", got, want)
	}

	h = healthOptions{}
	e := map[string]string{"SMARTLIMIT_MONGO_URI": "mongodb://env:1", "SMARTLIMIT_MONGO_DB": "envdb", "SMARTLIMIT_MONGO_COLLECTION": "envcoll"}
	if err := newHealthCmd(&h).parse([]string{"--mongo-db", "flagdb"}, env(e)); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Mongo, (mongoOptions{URI: "mongodb://env:1", DB: "flagdb", Collection: "envcoll"}); got != want {
		t.Errorf("health with env and --mongo-db: Mongo = %+v, want %+v", got, want)
	}
}

func TestParseHealthMongoErrors(t *testing.T) {
	testUsageErrors(t, []usageCase{
		{"health", []string{"--mongo", "http://h:1"}, nil, "want a mongodb:// or mongodb+srv:// URI"},
		{"health", []string{"--mongo", "mongodb://h:port"}, nil, "--mongo mongodb://h:port"},
		{"health", []string{"--mongo", "mongodb://h:1/?w=-7"}, nil, "--mongo"},
		{"health", nil, map[string]string{"SMARTLIMIT_MONGO_URI": "h:27017"}, "want a mongodb://"},
		{"health", []string{"--mongo", "mongodb://h:1", "--mongo-db", "a.b"}, nil, "--mongo-db"},
		{"health", []string{"--mongo", "mongodb://h:1", "--mongo-db", ""}, nil, "--mongo-db"},
		{"health", []string{"--mongo", "mongodb://h:1", "--mongo-collection", ""}, nil, "--mongo-collection"},
		{"health", []string{"--mongo", "mongodb://h:1", "--mongo-collection", "system.users"}, nil, "--mongo-collection"},
	})
}

// silentServer accepts connections and never answers, like a server that
// hangs or a firewall that lets the handshake through.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHealthMongoUnreachable(t *testing.T) {
	const timeout = time.Second
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"refused", closedPort(t), "connection refused"},
		{"silent", silentServer(t), "server selection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			o := healthOptions{Redis: redisOptions{Embedded: true}, JSON: true, Timeout: timeout,
				MaxLatency: time.Minute, MaxSkew: time.Minute, ProbeKey: defaultProbeKey, Stdout: &out,
				Mongo: mongoOptions{URI: "mongodb://u:s3cret@" + tc.addr + "/?directConnection=true", DB: defaultMongoDB, Collection: defaultMongoCollection}}
			start := time.Now()
			err := runHealth(context.Background(), o)
			took := time.Since(start)
			// The timeout, plus the second that disconnecting may take and
			// slack for a loaded machine.
			if limit := timeout + 3*time.Second; took > limit {
				t.Errorf("health took %v, more than %v", took, limit)
			}
			if code := exitStatus(err); code != exitError {
				t.Errorf("exit %d, want %d (down)", code, exitError)
			}
			var rep HealthJSON
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("%v in %s", err, out.String())
			}
			if rep.Status != statusDown || len(rep.Tiers) != 2 {
				t.Fatalf("report %+v", rep)
			}
			redis, mongo := rep.Tiers[0], rep.Tiers[1]
			if redis.Tier != smartlimit.TierRedis || redis.Status != statusHealthy {
				t.Errorf("redis tier %+v, want healthy: the mongo tier's outage is its own", redis)
			}
			if mongo.Tier != smartlimit.TierMongo || mongo.Status != statusDown || mongo.Collection != "smartlimit.limits" ||
				mongo.LatencyUS != nil || mongo.TTLIndex != nil || len(mongo.Probes) != 0 {
				t.Errorf("mongo tier %+v, want down with nothing measured", mongo)
			}
			if p := strings.Join(mongo.Problems, "\n"); !strings.Contains(p, tc.want) {
				t.Errorf("mongo problems %q, want them to mention %q", p, tc.want)
			}
			if strings.Contains(out.String(), "s3cret") {
				t.Errorf("the report shows the password:\n%s", out.String())
			}
		})
	}
}

func TestHealthMongoTable(t *testing.T) {
	lat, no := int64(1500), false
	rep := HealthJSON{Status: statusDegraded, Tiers: []TierHealth{{
		Tier: smartlimit.TierMongo, Status: statusDegraded, Target: "mongodb://h:1", Collection: "smartlimit.limits",
		Version: "7.0.77 (FerretDB v1.24.2)", LatencyUS: &lat, TTLIndex: &no, Nodes: []NodeHealth{},
		Probes:   []ProbeHealth{{Script: "gcra", Key: "k", OK: true, LatencyUS: 900}},
		Problems: []string{"no TTL index"},
	}}}
	var out bytes.Buffer
	printHealth(&out, rep)
	want := `status: degraded

mongo tier: degraded
  target      mongodb://h:1
  collection  smartlimit.limits
  version     7.0.77 (FerretDB v1.24.2)
  ping        1.5ms
  ttl index   missing

  PROBE  KEY  RESULT  LATENCY
  gcra   k    ok      900µs

  problems:
  - no TTL index
`
	if out.String() != want {
		t.Errorf("printHealth:\n%s\nwant:\n%s", out.String(), want)
	}
}
