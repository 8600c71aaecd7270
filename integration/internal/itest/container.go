package itest

import (
	"context"
	"fmt"

	"github.com/smartlimit/smartlimit/internal/redistest"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// ContainerImage is the image the third tier of the harness runs when no
// redis-server is on PATH and a Docker engine answers.
const ContainerImage = "redis:7.0"

func init() {
	// The harness's order: an address from the environment, redis-server on
	// PATH, a container, a skip (a failure in CI).
	redistest.Container = StartContainer
}

// StartContainer starts ContainerImage with testcontainers-go and returns
// its address. Without a Docker engine it fails within milliseconds.
func StartContainer(ctx context.Context) (addr string, stop func(), err error) {
	c, err := tcredis.Run(ctx, ContainerImage)
	if err != nil {
		if c != nil {
			testcontainers.TerminateContainer(c)
		}
		return "", nil, fmt.Errorf("testcontainers: %w", err)
	}
	addr, err = c.Endpoint(ctx, "")
	if err != nil {
		testcontainers.TerminateContainer(c)
		return "", nil, fmt.Errorf("testcontainers: %w", err)
	}
	return addr, func() { testcontainers.TerminateContainer(c) }, nil
}
