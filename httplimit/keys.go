package httplimit

import (
	"context"
	"net/http"
	"strings"

	"github.com/smartlimit/smartlimit/decision"
)

// KeyFunc returns the key a request is limited under: the client, user,
// tenant or route that shares one quota. Keys from the functions of this
// package carry a kind prefix ("ip:", "user:", "apikey:" ...) so that keys
// of different kinds never collide. A KeyFunc returns an error matching
// ErrNoKey when the request lacks what it keys on (no such header, no
// authenticated user); First falls back on such errors.
//
// The middleware passes every key through SafeKey, so a KeyFunc may return
// raw request data.
type KeyFunc func(r *http.Request) (string, error)

// ErrNoKey means a request lacks what a KeyFunc keys on: the header,
// cookie or query parameter is absent, no user is authenticated, or the
// peer address is not an IP address. The middleware answers such requests
// with 400 Bad Request unless Options.ErrorHandler says otherwise. It is
// decision.ErrNoKey, which grpclimit's key functions match too.
var ErrNoKey = decision.ErrNoKey

// MaxKeyLen is the longest key the middleware passes to the limiter, in
// bytes; it is decision.MaxKeyLen.
const MaxKeyLen = decision.MaxKeyLen

// SafeKey returns key in a form that is safe inside a Redis key; it is
// decision.SafeKey, which documents the encoding.
func SafeKey(key string) string { return decision.SafeKey(key) }

func noKey(what string) error { return decision.NoKey(what) }

// Header returns a KeyFunc that keys the first value of the request header
// name: "header:NAME=VALUE". A request without it fails with ErrNoKey.
func Header(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	prefix := "header:" + name + "="
	return func(r *http.Request) (string, error) {
		v := r.Header.Get(name)
		if v == "" {
			return "", noKey("header " + name)
		}
		return prefix + v, nil
	}
}

// Query returns a KeyFunc that keys the query parameter name:
// "query:NAME=VALUE". A request without it fails with ErrNoKey.
func Query(name string) KeyFunc {
	prefix := "query:" + name + "="
	return func(r *http.Request) (string, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return "", noKey("query parameter " + name)
		}
		return prefix + v, nil
	}
}

// Cookie returns a KeyFunc that keys the value of the cookie name:
// "cookie:NAME=VALUE". A request without it fails with ErrNoKey. Use it for
// session identifiers, not for secrets: the value ends up in a Redis key
// (hash it in a KeyFunc of your own otherwise, as APIKey does).
func Cookie(name string) KeyFunc {
	prefix := "cookie:" + name + "="
	return func(r *http.Request) (string, error) {
		c, err := r.Cookie(name)
		if err != nil || c.Value == "" {
			return "", noKey("cookie " + name)
		}
		return prefix + c.Value, nil
	}
}

// Path is a KeyFunc that keys the request path: "path:/items/42". Every
// distinct path is its own key; to limit a route, whatever its parameters,
// use MethodAndPattern.
func Path(r *http.Request) (string, error) {
	return "path:" + r.URL.Path, nil
}

// Host is a KeyFunc that keys the Host the request was sent to, lowercased:
// "host:example.com".
func Host(r *http.Request) (string, error) {
	if r.Host == "" {
		return "", noKey("host")
	}
	return "host:" + strings.ToLower(r.Host), nil
}

// MethodAndPattern is a KeyFunc that keys the route that matched the
// request: the method and the http.ServeMux pattern in r.Pattern, as in
// "route:GET /items/{id}" (methods RFC 9110 does not define share "*").
// r.Pattern is set by the mux before it calls the
// route's handler, so this works for middleware that wraps one route's
// handler; for middleware that wraps a whole mux use MuxPattern. A request
// without a pattern fails with ErrNoKey.
func MethodAndPattern(r *http.Request) (string, error) {
	if r.Pattern == "" {
		return "", noKey("route pattern (wrap the route's handler, or use MuxPattern)")
	}
	return routeKey(r.Method, r.Pattern), nil
}

// MuxPattern returns a KeyFunc that keys the route mux would choose for the
// request, for middleware that wraps the whole mux: "route:GET /items/{id}".
// Requests that match no route share the key "route:unmatched".
func MuxPattern(mux *http.ServeMux) KeyFunc {
	return func(r *http.Request) (string, error) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			return "route:unmatched", nil
		}
		return routeKey(r.Method, pattern), nil
	}
}

// routeKey prefixes pattern with method unless the pattern names one
// ("GET /items/{id}"). A method that RFC 9110 does not define becomes "*":
// net/http takes any token as a method, and a client must not mint a fresh
// key, and quota, with every method it makes up.
func routeKey(method, pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i > 0 && !strings.ContainsRune(pattern[:i], '/') {
		return "route:" + pattern
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
	default:
		method = "*"
	}
	return "route:" + method + " " + pattern
}

// User returns a KeyFunc that keys the authenticated user that id finds in
// the request's context (put there by your authentication middleware):
// "user:ID". Requests for which id reports false fail with ErrNoKey, so
// First(User(id), RemoteIP) limits anonymous requests by address.
func User(id func(ctx context.Context) (string, bool)) KeyFunc {
	return func(r *http.Request) (string, error) {
		u, ok := id(r.Context())
		if !ok || u == "" {
			return "", noKey("authenticated user")
		}
		return "user:" + u, nil
	}
}

// HeaderXAPIKey is the header APIKey reads when there is no bearer token.
const HeaderXAPIKey = "X-Api-Key"

// APIKey is a KeyFunc that keys the API key the client sent, as a bearer
// token (Authorization: Bearer KEY) or in X-API-Key: "apikey:" and the
// unpadded base64url SHA-256 of the key. The key is hashed so that
// credentials never appear in Redis keys, dumps or logs. A request without
// one fails with ErrNoKey.
//
// APIKey checks nothing: the key is whatever the client sends, and every
// distinct key is a fresh quota, so a client that sends a random key with
// each request is never limited. Use it only behind authentication that
// rejects unknown keys before the middleware runs; otherwise use
// VerifiedAPIKey, which keys only the keys you accept.
func APIKey(r *http.Request) (string, error) {
	if k := rawAPIKey(r); k != "" {
		return decision.APIKeyKey(k), nil
	}
	return "", noKey("API key")
}

// rawAPIKey returns the API key r carries, or "".
func rawAPIKey(r *http.Request) string {
	if tok := decision.BearerToken(r.Header.Get("Authorization")); tok != "" {
		return tok
	}
	return strings.TrimSpace(r.Header.Get(HeaderXAPIKey))
}

// VerifiedAPIKey returns a KeyFunc that keys the API key a request carries,
// as APIKey does, when valid accepts it, and keys every other request (one
// without a key, or with a key valid rejects) with fallback, typically
// RemoteIP or ClientIP. Clients then cannot mint quotas: a made-up key
// shares its sender's address quota. valid runs on every request before the
// limiter, so make it cheap: a lookup in memory, an HMAC or signature
// check. It is given the raw key, never logged or stored.
func VerifiedAPIKey(valid func(ctx context.Context, key string) bool, fallback KeyFunc) KeyFunc {
	return func(r *http.Request) (string, error) {
		if k := rawAPIKey(r); k != "" && valid(r.Context(), k) {
			return decision.APIKeyKey(k), nil
		}
		return fallback(r)
	}
}

// Compose returns a KeyFunc that keys the combination of keys, for a quota
// per user and route: Compose(User(id), MethodAndPattern). The parts are
// joined with '|' after '%' and '|' in each are percent-encoded, so that
// distinct combinations stay distinct. The first error of any part is
// returned.
func Compose(keys ...KeyFunc) KeyFunc {
	return func(r *http.Request) (string, error) {
		return decision.ComposeKeys(len(keys), func(i int) (string, error) { return keys[i](r) })
	}
}

// First returns a KeyFunc that returns the key of the first of keys that
// does not fail with ErrNoKey: First(User(id), RemoteIP) keys signed-in
// users by user and anonymous ones by address. Other errors are returned at
// once.
//
// First falls back only when a key is absent, never when it is made up: with
// First(APIKey, RemoteIP) a client that sends a random API key gets a fresh
// quota each time (8 of 8 random keys passed a limit of 5). Key by API key
// with VerifiedAPIKey(valid, RemoteIP) instead, or only behind
// authentication that rejects unknown keys first.
func First(keys ...KeyFunc) KeyFunc {
	return func(r *http.Request) (string, error) {
		return decision.FirstKey(len(keys), func(i int) (string, error) { return keys[i](r) })
	}
}
