package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/redistest"
)

// TestBenchEndCountsChecksInFlight pauses Redis across the end of a run, so
// that every worker has a check in flight when the run ends. Those checks
// must finish and count, not fail: the end of the run is not an error of
// the limiter (the issue "Hold at the edges", item 19, where a run counted
// 794 checks in flight at its end as failed and exited 1).
func TestBenchEndCountsChecksInFlight(t *testing.T) {
	srv := redistest.Start(t)
	if !srv.Started() {
		t.Skipf("%s names a shared server, which this test must not pause", redistest.AddrEnv)
	}
	admin := srv.Client(t)
	ctx := context.Background()
	// A sliding window log keeps one member per check it allowed, and at
	// this rate it allows every one: the key's ZCARD is what Redis ran.
	l := smartlimit.Limit{Rate: 10_000_000, Period: time.Hour, Algorithm: smartlimit.SlidingWindow}
	for _, coalesce := range []string{"on", "off"} {
		t.Run("coalescing "+coalesce, func(t *testing.T) {
			prefix := "endrun-" + coalesce
			var out bytes.Buffer
			o := benchOptions{Duration: 500 * time.Millisecond, Concurrency: 8, Keys: 1, Batch: 1, Coalesce: coalesce,
				Limit: l, JSON: true, Redis: redisOptions{URL: "redis://" + srv.Addr, Prefix: prefix},
				Stdout: &out, Stderr: io.Discard}
			done := make(chan error, 1)
			go func() { done <- runBench(ctx, o) }()

			// Once checks flow, pause Redis for longer than the whole run:
			// the run ends while it is paused.
			var key string
			for key == "" {
				select {
				case err := <-done:
					t.Fatalf("bench ended before its first check: %v\n%s", err, out.String())
				case <-time.After(time.Millisecond):
				}
				keys, err := admin.Do(ctx, admin.B().Keys().Pattern(prefix+":*").Build()).AsStrSlice()
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) > 0 {
					key = keys[0]
				}
			}
			if err := admin.Do(ctx, admin.B().ClientPause().Timeout(2*o.Duration.Milliseconds()).All().Build()).Error(); err != nil {
				t.Fatal(err)
			}
			err := <-done
			var rep BenchJSON
			if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
				t.Fatalf("bench: %v, output %q: %v", err, out.String(), jerr)
			}
			ran, zerr := admin.Do(ctx, admin.B().Zcard().Key(key).Build()).AsInt64()
			if zerr != nil {
				t.Fatal(zerr)
			}
			t.Logf("checks %d, allowed %d, errors %d (first %q), Redis ran %d", rep.Checks, rep.Allowed, rep.Errors, rep.FirstError, ran)
			if err != nil || rep.Errors != 0 {
				t.Errorf("bench = %v with %d errors (first: %s); want success", err, rep.Errors, rep.FirstError)
			}
			if rep.Checks != ran || rep.Allowed != ran {
				t.Errorf("the run counted %d checks (%d allowed), Redis ran %d: the checks in flight at the end were cut off", rep.Checks, rep.Allowed, ran)
			}
			// Every worker had a check in flight at the end, its first one
			// at least. Cut off, they may never run at all (rueidis closes
			// a connection whose lone call timed out), and the counts above
			// agree.
			if rep.Calls < int64(o.Concurrency) {
				t.Errorf("the run counted %d calls of %d workers: the checks in flight at the end were cut off", rep.Calls, o.Concurrency)
			}
		})
	}
}
