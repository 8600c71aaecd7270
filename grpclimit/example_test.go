package grpclimit_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/grpclimit"
	"github.com/smartlimit/smartlimit/memfallback"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Limit every caller of a gRPC server to 2 calls a minute per API key you
// issued, falling back to the peer address for anonymous callers and for
// made-up keys.
func ExampleNew() {
	// The in-process tier, on a fixed clock so the output is stable; real
	// programs pass their Redis Client or failover coordinator.
	lim, err := memfallback.New(memfallback.Options{
		Clock: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	defer lim.Close()

	in, err := grpclimit.New(lim, grpclimit.Options{
		Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Minute},
		Key: grpclimit.VerifiedAPIKey(func(_ context.Context, key string) bool {
			return key == "key-alice" // look it up in your key store
		}, grpclimit.PeerIP),
	})
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(in.Unary()), grpc.ChainStreamInterceptor(in.Stream()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	for range 3 {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		st := status.Convert(err)
		fmt.Print(st.Code())
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				fmt.Print(", retry in ", ri.GetRetryDelay().AsDuration())
			}
		}
		fmt.Println()
	}
	// Output:
	// OK
	// OK
	// ResourceExhausted, retry in 1m0s
}
