package mongostore_test

import (
	"context"
	"log"

	"github.com/redis/rueidis"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/failover"
	"github.com/smartlimit/smartlimit/memfallback"
	"github.com/smartlimit/smartlimit/mongostore"
)

// This example puts the mongo tier behind Redis and in front of memory.
// It needs servers, so it is compiled but not run here; the integration
// module (integration/mongo) runs one with output on an embedded FerretDB.
func Example_failover() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:27017"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	ms, err := mongostore.New(client.Database("smartlimit").Collection("limits"), mongostore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := ms.EnsureIndexes(ctx); err != nil {
		log.Fatal(err)
	}
	mem, err := memfallback.New(memfallback.Options{LocalShare: 0.25}) // 4 replicas
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	redis, err := smartlimit.New(rc)
	if err != nil {
		log.Fatal(err)
	}
	c, err := failover.New([]failover.Tier{
		{Name: smartlimit.TierRedis, Limiter: redis},
		{Name: smartlimit.TierMongo, Limiter: ms},
		{Name: smartlimit.TierMemory, Limiter: mem},
	}, failover.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, err := c.Allow(ctx, "login:alice", smartlimit.PerMinute(5))
	if err != nil {
		log.Fatal(err)
	}
	log.Println(r.Allowed, r.Tier)
}
