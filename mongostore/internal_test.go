package mongostore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/smartlimit/smartlimit/internal/algo"
)

func mustParams(t *testing.T, k algo.Kind, rate, periodUS, burst int64) algo.Params {
	t.Helper()
	p, err := algo.NewParams(k, rate, periodUS, burst)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDocID checks that the _id has the Redis key's shape and, like it,
// is shared by limits of the same rate (10/s and 20/2s) and differs for
// other limits and algorithms.
func TestDocID(t *testing.T) {
	a := mustParams(t, algo.GCRA, 10, 1e6, 0)
	if got, want := docID("alice", &a), "{alice}:gcra:1:100000:10:v2"; got != want {
		t.Errorf("docID = %q, want %q", got, want)
	}
	b := mustParams(t, algo.GCRA, 20, 2e6, 10)
	if docID("alice", &a) != docID("alice", &b) {
		t.Errorf("10/s and 20/2s burst 10: %q and %q, want one document", docID("alice", &a), docID("alice", &b))
	}
	for _, p := range []algo.Params{
		mustParams(t, algo.GCRA, 10, 1e6, 20),
		mustParams(t, algo.TokenBucket, 10, 1e6, 0),
		mustParams(t, algo.FixedWindow, 10, 1e6, 0),
	} {
		if docID("alice", &p) == docID("alice", &a) {
			t.Errorf("%v shares the document of 10/s GCRA", p)
		}
	}
}

// TestFields checks what a write stores: expireAt rounded up to BSON's
// milliseconds (never early), and an empty log as an array, not null.
func TestFields(t *testing.T) {
	p := mustParams(t, algo.GCRA, 3, 1e6, 0) // a unit every 333333⅓ µs
	st := newState(&p, nil)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	st.step(now, 1, "")
	f := st.fields(now, 1)
	m := toMap(f)
	if got, want := m["expireAt"], time.UnixMilli((now+333334+999)/1000).UTC(); got != want {
		t.Errorf("expireAt = %v, want %v (now + ⌈333333⅓ µs⌉, rounded up to a millisecond)", got, want)
	}
	if got := m["v"]; got != int64(1) {
		t.Errorf("v = %v, want 1", got)
	}

	sw := mustParams(t, algo.SlidingWindow, 2, 1e6, 0)
	st = newState(&sw, &doc{V: 4, T: []int64{now - 2e6}}) // an entry long out of the window
	m = toMap(st.fields(now, 5))
	if got, ok := m["t"].([]int64); !ok || got == nil || len(got) != 0 {
		t.Errorf("t = %#v, want an empty, non-nil log (pruned)", m["t"])
	}
}

func toMap(d bson.D) map[string]any {
	m := make(map[string]any, len(d))
	for _, e := range d {
		m[e.Key] = e.Value
	}
	return m
}
