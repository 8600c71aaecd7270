package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/httplimit"
)

// serveOptions are the options of serve.
type serveOptions struct {
	Addr  string // host:port to listen on; port 0 picks a free one
	Limit smartlimit.Limit
	Redis redisOptions
	Quiet bool // no line per request

	Stdout, Stderr io.Writer
	// Ready, when not nil, receives the address the server listens on once
	// it accepts connections. Tests use it; the command prints the address.
	Ready chan<- string
}

// Defaults of serve's flags.
const (
	defaultServeAddr  = "127.0.0.1:8080" // loopback, as httptest does: a demo is not for the network
	defaultServeLimit = "5/10s"          // small enough that a few curls see a 429
	shutdownTimeout   = 5 * time.Second
)

func newServeCmd(o *serveOptions) *command {
	c := &command{
		UsageLine: "serve [--addr HOST:PORT] [--limit RATE/PERIOD] [--redis URL]",
		Short:     "run a rate-limited demo HTTP API",
		Long: `Serve runs a small HTTP API rate-limited by the httplimit middleware, to
see the engine work with nothing installed: by default it runs on an
embedded miniredis, in process; --redis (or SMARTLIMIT_REDIS_URL) puts it on
a real Redis, Sentinel or Cluster instead.

Endpoints:

	GET /hello     limited: each client (by IP address) gets --limit; the
	               answer carries the IETF
	               RateLimit and RateLimit-Policy headers, the X-RateLimit-*
	               ones, and a 429 with Retry-After once the limit is spent
	GET /healthz   not limited: 200 when Redis answers, 503 when not
	GET /          not limited: what the endpoints are

It listens on 127.0.0.1:8080 unless --addr says otherwise (port 0 picks a
free port; the address is printed), prints a curl line to try, logs one line
per request, and stops cleanly on Ctrl-C or SIGTERM.`,
		Flag: flagSet("serve"),
	}
	c.Flag.StringVar(&o.Addr, "addr", defaultServeAddr, "listen on this `host:port`")
	c.bindEnv("addr", "SMARTLIMIT_ADDR")
	var lf limitFlags
	addLimitFlags(c, &lf, defaultServeLimit, "SMARTLIMIT_LIMIT")
	c.Flag.BoolVar(&o.Quiet, "quiet", false, "do not log a line per request")
	addRedisFlags(c, &o.Redis, true)
	c.Args = func(args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if _, _, err := net.SplitHostPort(o.Addr); err != nil {
			return usagef("--addr %q: %v", o.Addr, err)
		}
		var err error
		if o.Limit, err = lf.Limit(); err != nil {
			return err
		}
		return o.Redis.check(c)
	}
	c.Run = func(ctx context.Context) error { return runServe(ctx, *o) }
	return c
}

// runServe serves the demo API until ctx ends, then shuts the server down
// and returns nil.
func runServe(ctx context.Context, o serveOptions) error {
	t, err := connect(ctx, o.Redis, true)
	if err != nil {
		return err
	}
	defer t.Close()
	ping := func(ctx context.Context) error { return t.Redis.Do(ctx, t.Redis.B().Ping().Build()).Error() }
	h, err := demoHandler(t.Client, ping, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Not ctx as BaseContext: a signal would cancel the requests in
		// flight that Shutdown is meant to let finish.
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(o.Stdout, `smartlimit serve: listening on %s
  limit:  %s per client (%s), on %s
  try:    for i in $(seq 7); do curl -s -o /dev/null -w '%%{http_code} ' %s/hello; done; echo
  or:     curl -i %s/hello
  health: curl %s/healthz
Stop with Ctrl-C.
`, url, o.Limit, o.Limit.Algorithm, t.Name, url, url, url)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if o.Ready != nil {
		o.Ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err // Serve failed before any shutdown
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	fmt.Fprintln(o.Stdout, "smartlimit serve: stopped")
	return nil
}

// demoHandler returns the demo API: /hello limited by lim, /healthz not.
// ping reports whether the limiter's Redis answers.
func demoHandler(lim httplimit.Limiter, ping func(context.Context) error, o serveOptions) (http.Handler, error) {
	mw, err := httplimit.New(lim, httplimit.Options{
		Limit: o.Limit,
		// By address only: the demo has no registry of API keys, and keying
		// by unchecked ones would let anyone mint quota with a random key.
		Key: httplimit.RemoteIP,
	})
	if err != nil {
		return nil, err
	}
	log := &requestLog{w: o.Stdout, quiet: o.Quiet}
	// A leaky bucket's Delay is waited out by the middleware (Block mode)
	// before it calls hello; waiting it here too served every shaped
	// request after twice its Delay.
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := httplimit.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"message":"hello","remaining":%d,"limit":%d}`+"\n", d.Result.Remaining, d.Result.Limit)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /hello", mw.Handle(hello))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "smartlimit demo: GET /hello is limited to %s per client; GET /healthz is not.\n", o.Limit)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return log.wrap(mux), nil
}

// requestLog writes one line per request: method, path, status and the
// rate-limit state, so the demo shows its 429s as they happen.
type requestLog struct {
	mu    sync.Mutex // serializes lines
	w     io.Writer
	quiet bool
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	if l.quiet {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		line := fmt.Sprintf("%s %s %s %d", time.Now().Format("15:04:05.000"), r.Method, r.URL.Path, rec.status)
		if rl := rec.Header().Get(httplimit.HeaderRateLimit); rl != "" {
			line += "  RateLimit: " + rl
		}
		if ra := rec.Header().Get("Retry-After"); ra != "" {
			line += "  Retry-After: " + ra
		}
		line += "  (" + time.Since(start).Round(time.Microsecond).String() + ")\n"
		l.mu.Lock()
		io.WriteString(l.w, line)
		l.mu.Unlock()
	})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
