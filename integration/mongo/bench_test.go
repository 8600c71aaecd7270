package mongo_test

import (
	"strconv"
	"testing"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/mongostore"
)

// The benchmarks run on the server the tests use (FerretDB unless
// SMARTLIMIT_MONGO_URI is set), one goroutine at a time. On FerretDB they
// measure FerretDB's SQLite path more than the tier.

// BenchmarkAllowN is a check that writes: read, decide, conditional upsert.
func BenchmarkAllowN(b *testing.B) {
	srv := startServer(b)
	st, _ := newStore(b, srv, mongostore.Options{})
	l := smartlimit.PerSecond(1_000_000_000) // never denies at a frozen clock within b.N
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.AllowN(ctx, "k", l, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPeek is a check that only reads.
func BenchmarkPeek(b *testing.B) {
	srv := startServer(b)
	st, _ := newStore(b, srv, mongostore.Options{})
	l := smartlimit.PerSecond(10)
	allowN(b, st, "k", l, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Peek(ctx, "k", l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowMany100 is a batch of 100 keys: one find, one bulk write.
func BenchmarkAllowMany100(b *testing.B) {
	srv := startServer(b)
	st, _ := newStore(b, srv, mongostore.Options{})
	l := smartlimit.PerSecond(1_000_000_000)
	reqs := make([]smartlimit.Request, 100)
	for i := range reqs {
		reqs[i] = smartlimit.Request{Key: "k" + strconv.Itoa(i), Limit: l, Cost: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.AllowMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/check")
}
