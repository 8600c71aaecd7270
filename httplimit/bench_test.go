package httplimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/httplimit"
	"github.com/smartlimit/smartlimit/memfallback"
)

// nopWriter is a ResponseWriter that keeps only its header map, cleared
// between requests, so that the benchmarks measure the middleware and not
// a recorder.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

var nop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// benchServe runs h for b.N requests from one client and checks the status.
func benchServe(b *testing.B, h http.Handler, want int) {
	b.Helper()
	r := httptest.NewRequest("GET", "/items/1", nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 200
		h.ServeHTTP(w, r)
	}
	if w.code != want {
		b.Fatalf("status %d, want %d", w.code, want)
	}
}

func newBenchMW(b *testing.B, opts httplimit.Options) *httplimit.Middleware {
	b.Helper()
	st, err := memfallback.New(memfallback.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	m, err := httplimit.New(st, opts)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkMiddleware measures the middleware's cost per request over the
// memory tier: compare with BenchmarkMiddleware/none, the bare handler.
func BenchmarkMiddleware(b *testing.B) {
	huge := smartlimit.Limit{Rate: 1_000_000_000, Period: time.Second}
	b.Run("none", func(b *testing.B) { benchServe(b, nop, 200) })
	b.Run("allowed", func(b *testing.B) {
		benchServe(b, newBenchMW(b, httplimit.Options{Limit: huge}).Handle(nop), 200)
	})
	b.Run("allowed/no-headers", func(b *testing.B) {
		m := newBenchMW(b, httplimit.Options{Limit: huge, OmitDraftHeaders: true, OmitLegacyHeaders: true})
		benchServe(b, m.Handle(nop), 200)
	})
	b.Run("denied", func(b *testing.B) {
		m := newBenchMW(b, httplimit.Options{Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1, Period: time.Hour}})
		benchServe(b, m.Handle(nop), 429)
	})
	b.Run("allowed/two-policies", func(b *testing.B) {
		m := newBenchMW(b, httplimit.Options{Policies: []httplimit.Policy{
			{Name: "burst", Limit: huge},
			{Name: "daily", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1_000_000_000, Period: 24 * time.Hour}},
		}})
		benchServe(b, m.Handle(nop), 200)
	})
	b.Run("allowed/client-ip-xff", func(b *testing.B) {
		key, err := httplimit.ClientIP(httplimit.IPOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Header: httplimit.HeaderXForwardedFor})
		if err != nil {
			b.Fatal(err)
		}
		m := newBenchMW(b, httplimit.Options{Limit: huge, Key: key})
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Forwarded-For", "203.0.113.7, 192.0.2.9")
		w := &nopWriter{h: http.Header{}}
		h := m.Handle(nop)
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
	b.Run("allowed/parallel", func(b *testing.B) {
		h := newBenchMW(b, httplimit.Options{Limit: huge}).Handle(nop)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest("GET", "/", nil)
			w := &nopWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	})
}
