package httplimit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/httplimit"
)

// newExampleLimiter returns a smartlimit.Client on an in-process miniredis,
// stopped by the returned function. Real programs connect to their Redis.
func newExampleLimiter() (*smartlimit.Client, func()) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	mr.SetTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true})
	if err != nil {
		panic(err)
	}
	lim, err := smartlimit.New(rc)
	if err != nil {
		panic(err)
	}
	return lim, func() { rc.Close(); mr.Close() }
}

// A limit for the whole site: every client address gets 2 requests a
// minute, whatever it asks for.
func ExampleMiddleware_Handle() {
	lim, stop := newExampleLimiter()
	defer stop()

	mw, err := httplimit.New(lim, httplimit.Options{
		Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Minute},
		Key:   httplimit.RemoteIP, // the default
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		d, _ := httplimit.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s, %d left", d.Key, d.Result.Remaining)
	})
	site := mw.Handle(mux) // the server would run http.ListenAndServe(addr, site)

	for range 3 {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		body, _ := io.ReadAll(w.Body)
		fmt.Printf("%d RateLimit: %s\n    %s\n", w.Code, w.Header().Get("RateLimit"), body)
	}
	// Output:
	// 200 RateLimit: "default";r=1;t=60
	//     hello ip:192.0.2.1, 1 left
	// 200 RateLimit: "default";r=0;t=60
	//     hello ip:192.0.2.1, 0 left
	// 429 RateLimit: "default";r=0;t=60
	//     {"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Too Many Requests","status":429,"violated-policies":["default"]}
}

// A limit on one route, the analogue of a decorator on one view: login
// attempts per client address and route, with two policies at once.
func ExampleMiddleware_Handle_route() {
	lim, stop := newExampleLimiter()
	defer stop()

	login, err := httplimit.New(lim, httplimit.Options{
		Policies: []httplimit.Policy{
			{Name: "burst", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1, Period: time.Second}},
			{Name: "hourly", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 20, Period: time.Hour}},
		},
		Key: httplimit.Compose(httplimit.MethodAndPattern, httplimit.RemoteIP),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", login.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "welcome")
	})))
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })

	for _, req := range []struct{ method, path string }{{"POST", "/login"}, {"POST", "/login"}, {"GET", "/"}} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(req.method, req.path, nil))
		fmt.Printf("%s %s: %d Retry-After=%q RateLimit-Policy=%q\n", req.method, req.path, w.Code,
			w.Header().Get(httplimit.HeaderRetryAfter), w.Header().Get(httplimit.HeaderRateLimitPolicy))
	}
	// Output:
	// POST /login: 200 Retry-After="" RateLimit-Policy="\"burst\";q=1;w=1, \"hourly\";q=20;w=3600"
	// POST /login: 429 Retry-After="1" RateLimit-Policy="\"burst\";q=1;w=1, \"hourly\";q=20;w=3600"
	// GET /: 200 Retry-After="" RateLimit-Policy=""
}

// Key clients by their API key, but only by a key you issued: requests with
// none, or with one made up (a fresh key per request would otherwise be a
// fresh quota per request), share their address's quota.
func ExampleVerifiedAPIKey() {
	lim, stop := newExampleLimiter()
	defer stop()

	issued := map[string]bool{"key-alice": true} // your key store
	mw, err := httplimit.New(lim, httplimit.Options{
		Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Minute},
		Key: httplimit.VerifiedAPIKey(func(_ context.Context, key string) bool {
			return issued[key]
		}, httplimit.RemoteIP),
	})
	if err != nil {
		panic(err)
	}
	site := mw.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	for _, key := range []string{"made-up-1", "made-up-2", "made-up-3", "key-alice"} {
		r := httptest.NewRequest("GET", "/", nil) // from 192.0.2.1
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		site.ServeHTTP(w, r)
		fmt.Printf("%s: %d %s\n", key, w.Code, w.Header().Get(httplimit.HeaderRateLimit))
	}
	// Output:
	// made-up-1: 200 "default";r=1;t=60
	// made-up-2: 200 "default";r=0;t=60
	// made-up-3: 429 "default";r=0;t=60
	// key-alice: 200 "default";r=1;t=60
}
