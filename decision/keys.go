package decision

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrNoKey means a request lacks what a key function keys on: the header,
// metadata, cookie or query parameter is absent, no user is authenticated,
// or the peer address is not an IP address. Transports answer such
// requests as the client's error (400, InvalidArgument), and their First
// combinators fall back on it.
var ErrNoKey = errors.New("decision: request has no rate limit key")

// NoKey returns an error matching ErrNoKey that says what was missing:
// NoKey("header X-User") reads "…: no header X-User".
func NoKey(what string) error {
	return &keyError{what: what}
}

// keyError is ErrNoKey with what was missing.
type keyError struct{ what string }

func (e *keyError) Error() string { return ErrNoKey.Error() + ": no " + e.what }
func (e *keyError) Unwrap() error { return ErrNoKey }

// MaxKeyLen is the longest key SafeKey returns, in bytes. It is well below
// smartlimit.MaxKeyLen so that the Redis key around it stays small.
const MaxKeyLen = 256

// SafeKey returns key in a form that is safe inside a Redis key: every
// byte that is not printable ASCII, space, '{' and '}' (which would change
// the Redis Cluster hash tag), and '%' and '~' (this encoding's own
// markers) are percent-encoded, and a result longer than MaxKeyLen is
// replaced by its first bytes, '~' and the unpadded base64url SHA-256 of
// the whole. SafeKey is injective up to SHA-256 collisions: distinct keys
// stay distinct.
func SafeKey(key string) string {
	n := 0
	for i := 0; i < len(key); i++ {
		if unsafeByte(key[i]) {
			n++
		}
	}
	if n == 0 && len(key) <= MaxKeyLen {
		return key // the common case: no copy
	}
	var b strings.Builder
	b.Grow(len(key) + 2*n)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if unsafeByte(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	if len(s) <= MaxKeyLen {
		return s
	}
	// Keep a readable head for operators and make the tail unique.
	sum := sha256.Sum256([]byte(key))
	const tail = 1 + 43 // '~' and the unpadded base64 of 32 bytes
	return s[:MaxKeyLen-tail] + "~" + base64.RawURLEncoding.EncodeToString(sum[:])
}

const hexDigits = "0123456789ABCDEF"

func unsafeByte(c byte) bool {
	return c <= ' ' || c >= 0x7f || c == '%' || c == '{' || c == '}' || c == '~'
}

// BearerToken returns the token of an Authorization value "Bearer TOKEN"
// (any case, trimmed), or "" when authorization holds none.
func BearerToken(authorization string) string {
	if len(authorization) > 7 && strings.EqualFold(authorization[:7], "bearer ") {
		return strings.TrimSpace(authorization[7:])
	}
	return ""
}

// APIKeyKey returns the key of an API key: "apikey:" and the unpadded
// base64url SHA-256 of raw. The key is hashed so that credentials never
// appear in Redis keys, dumps or logs, and is the same over every
// transport.
func APIKeyKey(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return "apikey:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// ComposeKeys returns the key of the combination of n keys, for a quota per
// user and route; part(i) returns the i-th. The parts are joined with '|'
// after '%' and '|' in each are percent-encoded, so that distinct
// combinations stay distinct. The first error of any part is returned.
func ComposeKeys(n int, part func(i int) (string, error)) (string, error) {
	var b strings.Builder
	for i := range n {
		s, err := part(i)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte('|')
		}
		for j := 0; j < len(s); j++ {
			switch c := s[j]; c {
			case '%', '|':
				b.WriteByte('%')
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&15])
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String(), nil
}

// FirstKey returns the first of n keys, key(0) … key(n-1), that does not
// fail with ErrNoKey. Other errors are returned at once; when every key is
// absent the last error is returned.
//
// It falls back only when a key is absent, never when it is made up: first
// an API key, then the address gives a fresh quota to every random API key.
// Key by API keys the server verifies instead.
func FirstKey(n int, key func(i int) (string, error)) (string, error) {
	err := NoKey("key")
	for i := range n {
		var s string
		if s, err = key(i); err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrNoKey) {
			return "", err
		}
	}
	return "", err
}
