package smartlimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
)

// Past maxDirect direct calls in flight, a call waits for one of them to
// end (or for its context) rather than take the detached path, whose few
// tokens per range (4 on a Cluster) would queue a healthy server's
// overflow behind one round trip each: on a busy Cluster key, 1 call in 10
// missed a 50 ms deadline that way.
func TestDirectCallsWaitForASlot(t *testing.T) {
	mr := miniredis.RunT(t)
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	c, err := New(rc, WithoutCoalescing())
	if err != nil {
		t.Fatal(err)
	}
	c.stalls.init(true) // a Cluster Client's tokens: 64 ranges of 4
	ctx := context.Background()
	l := PerSecond(10)
	for range maxDirect {
		if err := c.stalls.enter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Every direct slot is taken: a check waits, and ends with its context.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Allow(short, "k", l); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Allow with every direct slot taken = %v, want it to wait for one until its deadline", err)
	}
	if c.stalls.marks.Load() != 0 {
		t.Errorf("marks %b: a check that waited for a slot sent nothing, so no range stalled", c.stalls.marks.Load())
	}
	// A slot comes free: the check goes direct, and its own slot is back
	// afterwards.
	done := make(chan error, 1)
	go func() {
		_, err := c.Allow(ctx, "k", l)
		done <- err
	}()
	c.stalls.leave()
	if err := <-done; err != nil {
		t.Fatalf("Allow once a slot is free: %v", err)
	}
	if n := len(c.stalls.direct); n != maxDirect-1 {
		t.Errorf("%d direct slots held after the check, want %d", n, maxDirect-1)
	}
}
