package grpclimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/decision"
	"github.com/smartlimit/smartlimit/grpclimit"
	"github.com/smartlimit/smartlimit/httplimit"
	"github.com/smartlimit/smartlimit/internal/testkit"
	"github.com/smartlimit/smartlimit/smartlimittest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TestMain fails the run when goroutines outlive the tests: every server,
// connection and stream must be stopped.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil, 5*time.Second)) }

var twoPerMinute = smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Minute}

// seen records the Decision that the handler's context carries.
type seen struct {
	mu sync.Mutex
	d  []decision.Decision
	ok []bool
}

func (s *seen) add(ctx context.Context) {
	d, ok := grpclimit.FromContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d, s.ok = append(s.d, d), append(s.ok, ok)
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.d)
}

func (s *seen) last() (decision.Decision, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return decision.Decision{}, false
	}
	return s.d[len(s.d)-1], s.ok[len(s.ok)-1]
}

// serve starts a health server on 127.0.0.1 behind in and returns a client
// for it; both stop when the test ends.
func serve(t *testing.T, in *grpclimit.Interceptor) (healthpb.HealthClient, *seen) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &seen{}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(in.Unary(), func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			rec.add(ctx)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(in.Stream(), func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			rec.add(ss.Context())
			return h(srv, ss)
		}),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		hs.Shutdown()
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn), rec
}

func newInterceptor(t *testing.T, lim decision.Limiter, opts grpclimit.Options) *grpclimit.Interceptor {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	in, err := grpclimit.New(lim, opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// retryDelay returns the RetryInfo and QuotaFailure of a status error.
func details(t *testing.T, err error) (*errdetails.RetryInfo, *errdetails.QuotaFailure) {
	t.Helper()
	var ri *errdetails.RetryInfo
	var qf *errdetails.QuotaFailure
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			ri = d
		case *errdetails.QuotaFailure:
			qf = d
		}
	}
	return ri, qf
}

func TestUnary(t *testing.T) {
	t.Parallel()
	s := smartlimittest.New(t)
	client, rec := serve(t, newInterceptor(t, s.Client, grpclimit.Options{Limit: twoPerMinute}))
	ctx := context.Background()

	for i := range 2 {
		var hdr metadata.MD
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got, want := strings.Join(hdr.Get("ratelimit"), ","), fmt.Sprintf(`"default";r=%d;t=60`, 1-i); got != want {
			t.Errorf("call %d: ratelimit = %q, want %q", i, got, want)
		}
		if got, want := strings.Join(hdr.Get("ratelimit-policy"), ","), `"default";q=2;w=60`; got != want {
			t.Errorf("call %d: ratelimit-policy = %q, want %q", i, got, want)
		}
		d, ok := rec.last()
		if !ok || d.Key != "ip:127.0.0.1" || !d.Result.Allowed || d.Result.Tier != smartlimit.TierRedis {
			t.Errorf("call %d: decision %+v, %v", i, d, ok)
		}
	}

	s.Advance(500 * time.Millisecond)
	var hdr metadata.MD
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
	if code := status.Code(err); code != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want ResourceExhausted", err)
	}
	ri, qf := details(t, err)
	// 59.5 s to go, rounded up: never earlier than the limiter says.
	if ri == nil || ri.GetRetryDelay().AsDuration() != 60*time.Second {
		t.Errorf("RetryInfo = %v, want 60s", ri)
	}
	if qf == nil || len(qf.Violations) != 1 || qf.Violations[0].Subject != "default" {
		t.Errorf("QuotaFailure = %v, want one violation of \"default\"", qf)
	}
	if got := strings.Join(hdr.Get("retry-after"), ","); got != "60" {
		t.Errorf("retry-after metadata = %q, want 60", got)
	}
	if got := strings.Join(hdr.Get("ratelimit"), ","); got != `"default";r=0;t=60` {
		t.Errorf("ratelimit metadata = %q", got)
	}
	if n := rec.count(); n != 2 {
		t.Errorf("handler ran %d times, want 2", n)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	s := smartlimittest.New(t)
	client, rec := serve(t, newInterceptor(t, s.Client, grpclimit.Options{Limit: twoPerMinute, Key: grpclimit.Method}))

	watch := func() error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	for i := range 2 {
		if err := watch(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if d, ok := rec.last(); !ok || d.Key != "method:/grpc.health.v1.Health/Watch" {
			t.Errorf("stream %d: decision %+v, %v", i, d, ok)
		}
	}
	err := watch()
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream: %v, want ResourceExhausted", err)
	}
	if ri, _ := details(t, err); ri == nil || ri.GetRetryDelay().AsDuration() != 60*time.Second {
		t.Errorf("RetryInfo = %v, want 60s", ri)
	}
}

func TestConcurrencyStream(t *testing.T) {
	t.Parallel()
	s := smartlimittest.New(t)
	one := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 1, Period: time.Minute}
	client, _ := serve(t, newInterceptor(t, s.Client, grpclimit.Options{Limit: one}))

	ctx, cancel := context.WithCancel(context.Background())
	st, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if err != nil {
		t.Fatalf("first stream: %v", err)
	}
	// While the first stream is open, a second one is refused.
	st2, err := client.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = st2.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second stream: %v, want ResourceExhausted", err)
	}
	// Closing the first releases its lease; the server notices shortly.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx3, cancel3 := context.WithCancel(context.Background())
		st3, err := client.Watch(ctx3, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = st3.Recv()
		}
		cancel3()
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("after the first stream closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fake is a Limiter that answers what it is told.
type fake struct {
	res smartlimit.Result
	err error
}

func (f *fake) AllowN(_ context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	if err := smartlimit.CheckRequest(key, l, n); err != nil {
		return smartlimit.Result{}, err
	}
	return f.res, f.err
}

func TestErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("dial tcp 10.9.8.7:6379: connection refused")
	ctx := context.Background()

	t.Run("fail closed", func(t *testing.T) {
		client, rec := serve(t, newInterceptor(t, &fake{err: boom}, grpclimit.Options{Limit: twoPerMinute}))
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), "10.9.8.7") {
			t.Errorf("err = %v, want Unavailable without backend details", err)
		}
		if rec.count() != 0 {
			t.Error("handler ran")
		}
	})
	t.Run("fail open", func(t *testing.T) {
		var logs strings.Builder
		var mu sync.Mutex
		client, rec := serve(t, newInterceptor(t, &fake{err: boom}, grpclimit.Options{
			Limit:   twoPerMinute,
			OnError: decision.FailOpen,
			Logger:  slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
		}))
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("err = %v, want the call to pass", err)
		}
		d, ok := rec.last()
		if !ok || !errors.Is(d.Err, boom) || d.Result.Tier != smartlimit.TierFailOpen {
			t.Errorf("decision %+v, %v; want Err and Tier fail-open", d, ok)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "connection refused") {
			t.Errorf("fail-open was silent: %q", logs.String())
		}
	})
	t.Run("invalid input is internal", func(t *testing.T) {
		client, _ := serve(t, newInterceptor(t, &fake{err: &smartlimit.InputError{Field: "key", Reason: "test"}},
			grpclimit.Options{Limit: twoPerMinute, OnError: decision.FailOpen}))
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Internal {
			t.Errorf("err = %v, want Internal", err)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		client, _ := serve(t, newInterceptor(t, &fake{}, grpclimit.Options{Limit: twoPerMinute, Key: grpclimit.APIKey}))
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("err = %v, want InvalidArgument", err)
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestModes(t *testing.T) {
	t.Parallel()
	s := smartlimittest.New(t)
	one := smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 1, Period: time.Minute}
	client, rec := serve(t, newInterceptor(t, s.Client, grpclimit.Options{
		Limit:       one,
		Mode:        decision.AnnotateOnly,
		SkipMethods: []string{"/grpc.health.v1.Health/Watch"},
	}))
	ctx := context.Background()
	for i := range 3 {
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("annotate-only call %d: %v", i, err)
		}
	}
	if d, ok := rec.last(); !ok || d.Result.Allowed {
		t.Errorf("third call's decision: %+v, %v; want recorded and not allowed", d, ok)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := client.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.last(); ok {
		t.Error("skipped method got a decision")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, opts := range []grpclimit.Options{
		{},
		{Limit: twoPerMinute, Policies: []decision.Policy{{Limit: twoPerMinute}}},
		{Limit: smartlimit.Limit{Rate: 1}},
		{Limit: twoPerMinute, Mode: 7},
		{Limit: twoPerMinute, OnError: 7},
		{Policies: []decision.Policy{{Name: "a", Limit: twoPerMinute}, {Name: "b", Limit: smartlimit.PerHour(9)}}}, // fake has no AllowAll
	} {
		if _, err := grpclimit.New(&fake{}, opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
	if _, err := grpclimit.New(nil, grpclimit.Options{Limit: twoPerMinute}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestKeyFuncs(t *testing.T) {
	t.Parallel()
	withPeer := func(addr string, md ...string) context.Context {
		ap := netip.MustParseAddrPort(addr)
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap)})
		return metadata.NewIncomingContext(ctx, metadata.Pairs(md...))
	}
	clientIP := func(header string) grpclimit.KeyFunc {
		k, err := grpclimit.ClientIP(decision.IPOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Header: header})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	xff := clientIP(decision.HeaderXForwardedFor)
	user := grpclimit.User(func(ctx context.Context) (string, bool) {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get("test-user"); len(v) > 0 {
			return v[0], true
		}
		return "", false
	})
	// The same API key gives the same key over HTTP and gRPC.
	httpReq := func() string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer tok-1")
		k, err := httplimit.APIKey(r)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}()
	verified := grpclimit.VerifiedAPIKey(func(_ context.Context, k string) bool { return k == "tok-1" }, grpclimit.PeerIP)
	for _, tc := range []struct {
		name string
		key  grpclimit.KeyFunc
		ctx  context.Context
		want string // "" means ErrNoKey
	}{
		{"peer", grpclimit.PeerIP, withPeer("192.0.2.1:5000", "x-forwarded-for", "203.0.113.1"), "ip:192.0.2.1"},
		{"peer v6", grpclimit.PeerIP, withPeer("[2001:db8:1:2::9]:5000"), "ip:2001:db8:1:2::/64"},
		{"no peer", grpclimit.PeerIP, context.Background(), ""},
		{"client ip, trusted proxy", xff, withPeer("10.0.0.1:5000", "x-forwarded-for", "198.51.100.1, 203.0.113.1"), "ip:203.0.113.1"},
		{"client ip, spoofed", xff, withPeer("192.0.2.1:5000", "x-forwarded-for", "203.0.113.1"), "ip:192.0.2.1"},
		{"client ip, forwarded", clientIP(decision.HeaderForwarded), withPeer("10.0.0.1:5000", "forwarded", "for=203.0.113.2"), "ip:203.0.113.2"},
		// Only the named key is read: no fallback a client could fill in.
		{"client ip, forwarded not named", xff, withPeer("10.0.0.1:5000", "forwarded", "for=203.0.113.2"), "ip:10.0.0.1"},
		{"client ip, x-real-ip named", clientIP("X-Real-IP"), withPeer("10.0.0.1:5000", "x-real-ip", "203.0.113.3", "x-forwarded-for", "203.0.113.4"), "ip:203.0.113.3"},
		{"metadata", grpclimit.Metadata("X-Tenant"), withPeer("192.0.2.1:1", "x-tenant", "acme"), "md:x-tenant=acme"},
		{"metadata missing", grpclimit.Metadata("x-tenant"), withPeer("192.0.2.1:1"), ""},
		{"user", user, withPeer("192.0.2.1:1", "test-user", "alice"), "user:alice"},
		{"user missing", user, withPeer("192.0.2.1:1"), ""},
		{"bearer", grpclimit.APIKey, withPeer("192.0.2.1:1", "authorization", "Bearer tok-1"), httpReq},
		{"x-api-key", grpclimit.APIKey, withPeer("192.0.2.1:1", "x-api-key", "tok-1"), httpReq},
		{"api key missing", grpclimit.APIKey, withPeer("192.0.2.1:1"), ""},
		{"compose", grpclimit.Compose(grpclimit.Method, grpclimit.PeerIP), withPeer("192.0.2.1:1"), "method:/svc/M|ip:192.0.2.1"},
		{"compose escapes", grpclimit.Compose(grpclimit.Metadata("a"), grpclimit.Metadata("b")), withPeer("192.0.2.1:1", "a", "1|%", "b", "2"), "md:a=1%7C%25|md:b=2"},
		{"first", grpclimit.First(grpclimit.APIKey, grpclimit.PeerIP), withPeer("192.0.2.1:1"), "ip:192.0.2.1"},
		// Item 22 of "Hold at the edges": only issued keys are keys.
		{"verified", verified, withPeer("192.0.2.1:1", "authorization", "Bearer tok-1"), httpReq},
		{"verified, made up", verified, withPeer("192.0.2.1:1", "x-api-key", "made-up"), "ip:192.0.2.1"},
		{"verified, none", verified, withPeer("192.0.2.1:1"), "ip:192.0.2.1"},
		{"first none", grpclimit.First(grpclimit.APIKey, user), withPeer("192.0.2.1:1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key(tc.ctx, "/svc/M")
			if tc.want == "" {
				if !errors.Is(err, decision.ErrNoKey) {
					t.Fatalf("key = %q, %v; want ErrNoKey", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("key = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// gate is a limiter slower than its callers: it says it was entered, waits
// until the call's context is done (the caller cancelled), then asks lim
// with that context.
type gate struct {
	lim     decision.Limiter
	entered chan struct{}
}

func (g *gate) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	g.entered <- struct{}{}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	return g.lim.AllowN(ctx, key, l, n)
}

// TestCanceledCall is "Hold at the edges", item 1: a call cancelled while
// the limiter works fails with the caller's context error (a real Redis
// client on miniredis returns it), which FailOpen took for a limiter
// failure: every cancelled call reached the handler. Now none does, and none
// is logged as a limiter failure.
func TestCanceledCall(t *testing.T) {
	t.Parallel()
	s := smartlimittest.New(t)
	g := &gate{lim: s.Client, entered: make(chan struct{})}
	var logs strings.Builder
	var mu sync.Mutex
	in := newInterceptor(t, g, grpclimit.Options{
		Limit:   smartlimit.PerHour(2),
		OnError: decision.FailOpen,
		Logger:  slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
	})
	ended := make(chan error) // what the interceptor returned, server side
	rec := &seen{}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			ended <- err
			return resp, err
		},
		in.Unary(),
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			rec.add(ctx)
			return h(ctx, req)
		}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	const n = 20
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-g.entered; cancel() }()
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Canceled {
			t.Errorf("call %d: %v, want Canceled", i, err)
		}
		if err := <-ended; status.Code(err) != codes.Canceled {
			t.Errorf("call %d: the interceptor returned %v, want Canceled", i, err)
		}
	}
	if got := rec.count(); got != 0 {
		t.Errorf("the handler ran for %d of %d cancelled calls, want 0", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() != 0 {
		t.Errorf("a cancelled call was logged as a limiter failure: %q", logs.String())
	}
}

// TestViolated is "Hold at the edges", item 13: httplimit documents
// Decision.Violated as set on every denial, and grpclimit, deciding by a
// copy of httplimit's code, never set it. Both policies below deny the
// third call, and both are named: in the Decision (AnnotateOnly, where the
// handler sees it) and in the QuotaFailure of a denial (Block).
func TestViolated(t *testing.T) {
	t.Parallel()
	policies := []decision.Policy{
		{Name: "burst", Limit: twoPerMinute},
		{Name: "hourly", Limit: smartlimit.Limit{Algorithm: smartlimit.FixedWindow, Rate: 2, Period: time.Hour}},
	}
	names := func(ps []decision.Policy) string {
		var b []string
		for _, p := range ps {
			b = append(b, p.Name)
		}
		return strings.Join(b, ",")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		policies []decision.Policy
		want     string
	}{
		{"one policy", policies[:1], "burst"},
		{"two policies", policies, "burst,hourly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := smartlimittest.New(t)
			annotate, rec := serve(t, newInterceptor(t, s.Client, grpclimit.Options{Policies: tc.policies, Mode: decision.AnnotateOnly, Key: grpclimit.Method}))
			block, _ := serve(t, newInterceptor(t, s.Client, grpclimit.Options{Policies: tc.policies, Key: grpclimit.Method}))
			for i := range 2 {
				if _, err := annotate.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					t.Fatal(err)
				}
				if d, _ := rec.last(); d.Violated != nil {
					t.Errorf("call %d allowed, Violated = %q, want nil", i, names(d.Violated))
				}
			}
			if _, err := annotate.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			if d, ok := rec.last(); !ok || d.Result.Allowed || names(d.Violated) != tc.want {
				t.Errorf("denied call: Allowed %v, Violated %q; want %q", d.Result.Allowed, names(d.Violated), tc.want)
			}

			_, err := block.Check(ctx, &healthpb.HealthCheckRequest{})
			_, qf := details(t, err)
			var got []string
			for _, v := range qf.GetViolations() {
				got = append(got, v.GetSubject())
			}
			if status.Code(err) != codes.ResourceExhausted || strings.Join(got, ",") != tc.want {
				t.Errorf("Block: %v, QuotaFailure subjects %q; want ResourceExhausted naming %q", err, got, tc.want)
			}
		})
	}
}
