package itest

import (
	"context"
	"testing"
	"time"
)

// Without a Docker engine the container tier answers with an error at once,
// so the harness moves on to its skip instead of hanging.
func TestStartContainerFailsFastWithoutDocker(t *testing.T) {
	start := time.Now()
	addr, stop, err := StartContainer(context.Background())
	if err == nil {
		// A Docker engine answered: the tier works; use it and stop it.
		defer stop()
		t.Logf("a Docker engine answered: Redis in a container at %s", addr)
		return
	}
	t.Logf("no container: %v (after %v)", err, time.Since(start))
	if addr != "" || stop != nil {
		t.Errorf("failed start returned addr %q and a stop func", addr)
	}
}
