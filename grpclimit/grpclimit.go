// Package grpclimit rate-limits gRPC servers with any smartlimit limiter:
// unary and stream server interceptors that key calls by peer address,
// metadata, method, user or API key, deny with codes.ResourceExhausted and
// an errdetails.RetryInfo, and announce the IETF RateLimit fields in the
// response header metadata. It is the gRPC counterpart of httplimit, in its
// own module so that the core stays free of gRPC.
//
//	in, err := grpclimit.New(limiter, grpclimit.Options{Limit: smartlimit.PerSecond(100)})
//	...
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(in.Unary()), grpc.ChainStreamInterceptor(in.Stream()))
package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/decision"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The decision path, and the types it speaks in (Policy, Decision, Mode,
// ErrorPolicy), live in package decision, which httplimit shares; this
// package translates it to gRPC. (httplimit's names for those types are
// aliases of decision's, so code written with them still compiles.)

// KeyFunc returns the key a call is limited under. fullMethod is the
// call's "/package.Service/Method". Like httplimit's, the built-in key
// functions prefix their kind ("ip:", "md:", "user:" ...) and fail with an
// error matching decision.ErrNoKey when the call lacks what they key on.
// Keys pass through decision.SafeKey.
type KeyFunc func(ctx context.Context, fullMethod string) (string, error)

// Metadata keys the interceptors set in the response header: the names of
// the IETF RateLimit-Policy, RateLimit and Retry-After fields in gRPC's
// lowercase form.
const (
	MetadataRateLimitPolicy = "ratelimit-policy"
	MetadataRateLimit       = "ratelimit"
	MetadataRetryAfter      = "retry-after"
)

// Options configures an Interceptor. The zero value of every field is its
// default; exactly one of Limit, Policies and PolicyFunc must be set.
type Options struct {
	// Limit is the limit of every call, reported as the policy
	// decision.DefaultPolicyName.
	Limit smartlimit.Limit
	// Policies are several limits checked together, all or nothing; the
	// Limiter must implement smartlimit.MultiLimiter when there is more
	// than one.
	Policies []decision.Policy
	// PolicyFunc chooses the policies per call, for example by method. A
	// call for which it returns none passes unlimited.
	PolicyFunc func(ctx context.Context, fullMethod string) ([]decision.Policy, error)

	// Key returns the key a call is limited under. The default is PeerIP.
	Key KeyFunc
	// Cost returns how many units a call takes. The default is 1.
	Cost func(ctx context.Context, fullMethod string) (int64, error)

	// Mode is decision.Block (the default) or decision.AnnotateOnly,
	// which sets metadata and the context Decision but never denies.
	Mode decision.Mode
	// Exempt reports whether a call bypasses the limit. The default exempts
	// nothing.
	Exempt func(ctx context.Context, fullMethod string) bool
	// SkipMethods lists full method names that bypass the limit, such as
	// "/grpc.health.v1.Health/Check".
	SkipMethods []string
	// OmitMetadata turns off the ratelimit-policy, ratelimit and
	// retry-after header metadata.
	OmitMetadata bool

	// OnError is what happens when the limiter fails: decision.FailClosed
	// (the default) answers codes.Unavailable; decision.FailOpen lets the
	// call pass, logs the error and records it in the Decision. Invalid
	// input and errors from Key, Cost and PolicyFunc never fail open, and a
	// call whose context is done (decision.ErrRequestDone) never reaches
	// the handler: it ends with codes.Canceled or codes.DeadlineExceeded,
	// unlogged.
	OnError decision.ErrorPolicy
	// Logger receives limiter errors, at most once a second with a count of
	// the rest. The default is slog.Default().
	Logger *slog.Logger
}

// Interceptor rate-limits the calls of a gRPC server. It is safe for
// simultaneous use by multiple goroutines.
type Interceptor struct {
	dec  *decision.Decider
	set  decision.Set // the static policies; empty with PolicyFunc
	opts Options
	log  decision.ErrorLog
}

// New returns an Interceptor that limits calls on lim as opts says, or an
// error when opts is inconsistent or a policy is invalid.
func New(lim decision.Limiter, opts Options) (*Interceptor, error) {
	if lim == nil {
		return nil, errors.New("grpclimit: New: nil Limiter")
	}
	dec, err := decision.NewDecider(lim, opts.Mode, opts.OnError)
	if err != nil {
		return nil, fmt.Errorf("grpclimit: New: %w", err)
	}
	in := &Interceptor{dec: dec, opts: opts}
	var policies []decision.Policy
	set := 0
	if opts.Limit != (smartlimit.Limit{}) {
		set++
		policies = []decision.Policy{{Name: decision.DefaultPolicyName, Limit: opts.Limit}}
	}
	if len(opts.Policies) > 0 {
		set++
		policies = slices.Clone(opts.Policies) // the caller may reuse its slice
	}
	if opts.PolicyFunc != nil {
		set++
	}
	if set != 1 {
		return nil, errors.New("grpclimit: New: set exactly one of Options.Limit, Options.Policies and Options.PolicyFunc")
	}
	if policies != nil {
		if in.set, err = dec.Policies(policies); err != nil {
			return nil, fmt.Errorf("grpclimit: New: %w", err)
		}
	}
	if in.opts.Key == nil {
		in.opts.Key = PeerIP
	}
	if in.opts.Logger == nil {
		in.opts.Logger = slog.Default()
	}
	return in, nil
}

// FromContext returns the Decision the interceptor stored in ctx, and false
// when there is none (the call was exempt or skipped). It is
// decision.FromContext.
func FromContext(ctx context.Context) (decision.Decision, bool) { return decision.FromContext(ctx) }

// Unary returns the unary server interceptor.
func (in *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, done, err := in.decide(ctx, info.FullMethod, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) })
		if err != nil {
			return nil, err
		}
		defer done()
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor. A stream is checked once,
// when it opens; a Concurrency policy holds its lease until the stream
// ends.
func (in *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, done, err := in.decide(ss.Context(), info.FullMethod, ss.SetHeader)
		if err != nil {
			return err
		}
		defer done()
		return handler(srv, &stream{ServerStream: ss, ctx: ctx})
	}
}

// stream carries the Decision's context to the handler.
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

func nothing() {}

// decide checks a call. It returns the context for the handler and a
// function to call when the handler returns, or the status error to answer
// with.
func (in *Interceptor) decide(ctx context.Context, method string, setHeader func(metadata.MD) error) (context.Context, func(), error) {
	if slices.Contains(in.opts.SkipMethods, method) || (in.opts.Exempt != nil && in.opts.Exempt(ctx, method)) {
		return ctx, nothing, nil
	}
	s := in.set
	if in.opts.PolicyFunc != nil {
		ps, err := in.opts.PolicyFunc(ctx, method)
		if err != nil {
			return nil, nil, in.fail(ctx, method, fmt.Errorf("grpclimit: PolicyFunc: %w", err))
		}
		if len(ps) == 0 {
			return ctx, nothing, nil
		}
		if s, err = in.dec.Policies(ps); err != nil {
			return nil, nil, in.fail(ctx, method, fmt.Errorf("grpclimit: PolicyFunc: %w", err))
		}
	}
	key, err := in.opts.Key(ctx, method)
	if err != nil {
		return nil, nil, in.fail(ctx, method, fmt.Errorf("grpclimit: key: %w", err))
	}
	dc := &decision.Context{Context: ctx, Decision: decision.Decision{Key: decision.SafeKey(key), Cost: 1}}
	d := &dc.Decision
	if in.opts.Cost != nil {
		if d.Cost, err = in.opts.Cost(ctx, method); err != nil {
			return nil, nil, in.fail(ctx, method, fmt.Errorf("grpclimit: cost: %w", err))
		}
	}

	lease, err := in.dec.Decide(ctx, d, s)
	if err != nil {
		return nil, nil, in.fail(ctx, method, err)
	}
	if d.Err != nil {
		in.logErr(ctx, method, "grpclimit: limiter failed; call passed unlimited (FailOpen)", d.Err)
		return dc, nothing, nil
	}
	done := nothing
	if lease != nil {
		done = func() {
			if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
				in.logErr(ctx, method, "grpclimit: releasing concurrency lease", err)
			}
		}
	}

	t, hasT := decision.DeltaSeconds(d.Policy.Limit, d.Result)
	denied := in.dec.Denies(d)
	if !in.opts.OmitMetadata {
		md := metadata.Pairs(
			MetadataRateLimitPolicy, s.Header,
			MetadataRateLimit, decision.FormatRateLimit(d.Policy, d.Result))
		if denied && hasT {
			md.Set(MetadataRetryAfter, strconv.FormatInt(t, 10))
		}
		// Failing to set metadata (the header was already sent) must not
		// fail the call: the decision stands without it.
		_ = setHeader(md)
	}
	if denied {
		return nil, nil, deniedStatus(d, t, hasT)
	}
	if err := in.dec.Wait(ctx, d); err != nil {
		done()
		return nil, nil, in.fail(ctx, method, err)
	}
	return dc, done, nil
}

// deniedStatus is ResourceExhausted with a RetryInfo (when the call can
// ever pass) and a QuotaFailure naming every violated policy.
func deniedStatus(d *decision.Decision, t int64, hasT bool) error {
	msg := "rate limit exceeded: policy " + strconv.Quote(d.Policy.Name)
	if !hasT {
		msg += " (the call costs more than the policy's capacity and can never pass)"
	}
	st := status.New(codes.ResourceExhausted, msg)
	qf := &errdetails.QuotaFailure{}
	for _, p := range d.Violated {
		qf.Violations = append(qf.Violations, &errdetails.QuotaFailure_Violation{Subject: p.Name, Description: p.Limit.String()})
	}
	details := []protoadapt.MessageV1{qf}
	if hasT {
		// Whole seconds, rounded up, as Retry-After: never earlier than the limiter's answer.
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(t) * time.Second)})
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil { // only if the details could not be marshaled
		return st.Err()
	}
	return withDetails.Err()
}

// fail maps an error that keeps a call from being decided to a status.
func (in *Interceptor) fail(ctx context.Context, method string, err error) error {
	switch {
	case errors.Is(err, decision.ErrRequestDone):
		// The caller cancelled or its deadline passed: neither its fault nor
		// the limiter's, so no log line; the status is the context's.
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, decision.ErrNoKey):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, decision.ErrUnavailable):
		in.logErr(ctx, method, "grpclimit: call refused: cannot check rate limit (FailClosed)", err)
		// Details stay in the log: they may name internal hosts.
		return status.Error(codes.Unavailable, "rate limiter unavailable")
	default:
		in.logErr(ctx, method, "grpclimit: call refused: cannot compute rate limit", err)
		return status.Error(codes.Internal, "rate limit check failed")
	}
}

// logErr logs err for a call of method with the Interceptor's rate-limited
// log.
func (in *Interceptor) logErr(ctx context.Context, method, msg string, err error) {
	in.log.Log(ctx, in.opts.Logger, msg, err, slog.String("method", method))
}

// PeerAddr returns the address of the call's peer.
func PeerAddr(ctx context.Context) (netip.Addr, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return netip.Addr{}, decision.NoKey("peer in context")
	}
	s := p.Addr.String()
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), nil
	}
	if a, ok := decision.ParseAddr(s); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: peer address %q is not an IP address", decision.ErrNoKey, s)
}

// PeerIP is a KeyFunc that keys the peer address, IPv6 grouped by /64:
// "ip:192.0.2.1". It reads no metadata; behind a proxy use ClientIP.
func PeerIP(ctx context.Context, _ string) (string, error) {
	a, err := PeerAddr(ctx)
	if err != nil {
		return "", err
	}
	var k decision.IPKeyer // the defaults, trusting no proxy
	return k.AddrKey(a), nil
}

// ClientIP returns a KeyFunc that keys the client address behind the
// trusted proxies of opts, read from the one metadata key opts.Header names
// (x-forwarded-for, forwarded or x-real-ip, as grpc-gateway and Envoy
// forward them) with the decision.IPKeyer that httplimit.ClientIP reads
// HTTP headers with: only from a trusted peer, from the right, and no other
// key.
func ClientIP(opts decision.IPOptions) (KeyFunc, error) {
	k, err := decision.NewIPKeyer(opts)
	if err != nil {
		return nil, fmt.Errorf("grpclimit: %w", err)
	}
	return func(ctx context.Context, _ string) (string, error) {
		a, err := PeerAddr(ctx)
		if err != nil {
			return "", err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		return k.AddrKey(k.ClientAddr(a, md.Get)), nil
	}, nil
}

// Metadata returns a KeyFunc that keys the first value of the request
// metadata key name: "md:NAME=VALUE".
func Metadata(name string) KeyFunc {
	name = strings.ToLower(name)
	return func(ctx context.Context, _ string) (string, error) {
		if v := first(ctx, name); v != "" {
			return "md:" + name + "=" + v, nil
		}
		return "", decision.NoKey("metadata " + name)
	}
}

// Method is a KeyFunc that keys the full method: "method:/pkg.Svc/Call".
func Method(_ context.Context, fullMethod string) (string, error) {
	return "method:" + fullMethod, nil
}

// User returns a KeyFunc that keys the user that id finds in the context
// (put there by your authentication interceptor): "user:ID".
func User(id func(ctx context.Context) (string, bool)) KeyFunc {
	return func(ctx context.Context, _ string) (string, error) {
		if u, ok := id(ctx); ok && u != "" {
			return "user:" + u, nil
		}
		return "", decision.NoKey("authenticated user")
	}
}

// APIKey is a KeyFunc that keys the API key in the authorization metadata
// ("Bearer KEY") or in x-api-key: "apikey:" and the unpadded base64url
// SHA-256 of the key, the same key httplimit.APIKey gives over HTTP.
//
// As httplimit.APIKey, it checks nothing: every distinct key is a fresh
// quota, so a caller sending random keys is never limited. Use it only
// behind authentication that rejects unknown keys first; otherwise use
// VerifiedAPIKey.
func APIKey(ctx context.Context, _ string) (string, error) {
	if k := rawAPIKey(ctx); k != "" {
		return decision.APIKeyKey(k), nil
	}
	return "", decision.NoKey("API key")
}

// rawAPIKey returns the API key in the call's metadata, or "".
func rawAPIKey(ctx context.Context) string {
	if tok := decision.BearerToken(first(ctx, "authorization")); tok != "" {
		return tok
	}
	return strings.TrimSpace(first(ctx, "x-api-key"))
}

// VerifiedAPIKey returns a KeyFunc that keys the call's API key, as APIKey
// does, when valid accepts it, and every other call (no key, or one valid
// rejects) with fallback, typically PeerIP: the gRPC form of
// httplimit.VerifiedAPIKey. valid runs on every call, so make it cheap.
func VerifiedAPIKey(valid func(ctx context.Context, key string) bool, fallback KeyFunc) KeyFunc {
	return func(ctx context.Context, method string) (string, error) {
		if k := rawAPIKey(ctx); k != "" && valid(ctx, k) {
			return decision.APIKeyKey(k), nil
		}
		return fallback(ctx, method)
	}
}

func first(ctx context.Context, name string) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if vs := md.Get(name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Compose returns a KeyFunc that keys the combination of keys, joined as
// httplimit.Compose joins them (decision.ComposeKeys).
func Compose(keys ...KeyFunc) KeyFunc {
	return func(ctx context.Context, method string) (string, error) {
		return decision.ComposeKeys(len(keys), func(i int) (string, error) { return keys[i](ctx, method) })
	}
}

// First returns a KeyFunc that returns the key of the first of keys that
// does not fail with decision.ErrNoKey. It falls back only when a key is
// absent, never when it is made up: First(APIKey, PeerIP) gives a fresh
// quota to every random API key; use VerifiedAPIKey(valid, PeerIP).
func First(keys ...KeyFunc) KeyFunc {
	return func(ctx context.Context, method string) (string, error) {
		return decision.FirstKey(len(keys), func(i int) (string, error) { return keys[i](ctx, method) })
	}
}
