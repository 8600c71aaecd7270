package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/smartlimit/smartlimit"
)

// delayLimiter admits every request with the same leaky-bucket Delay.
type delayLimiter struct{ delay time.Duration }

func (l delayLimiter) AllowN(ctx context.Context, key string, lim smartlimit.Limit, n int64) (smartlimit.Result, error) {
	return smartlimit.Result{Allowed: true, Limit: 3, Remaining: 1, Delay: l.delay, Tier: smartlimit.TierRedis}, nil
}

// TestServeLeakyBucketDelayOnce checks that the demo serves a shaped
// request after its Delay, once: the middleware waits it out, and the
// handler used to wait it again ("Hold at the edges", item 15: serve
// --limit "3/s leaky_bucket" answered after twice each Delay). In a
// synctest bubble the clock moves only when every goroutine waits, so the
// elapsed time is exact, not a measurement.
func TestServeLeakyBucketDelayOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 700 * time.Millisecond
		lim, err := smartlimit.ParseLimit("3/s leaky_bucket")
		if err != nil {
			t.Fatal(err)
		}
		ping := func(context.Context) error { return nil }
		h, err := demoHandler(delayLimiter{delay}, ping, serveOptions{Limit: lim, Quiet: true, Stdout: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if got, want := time.Since(start), delay; got != want {
			t.Errorf("GET /hello with Delay %v answered after %v, want %v", delay, got, want)
		}
		if rec.Code != http.StatusOK {
			t.Errorf("GET /hello: status %d, want 200; body %q", rec.Code, rec.Body)
		}
	})
}
