package decision

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestSafeKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"ip:192.0.2.1", "ip:192.0.2.1"},
		{"ip:2001:db8::/64", "ip:2001:db8::/64"},
		{"user:{admin}", "user:%7Badmin%7D"},
		{"a b", "a%20b"},
		{"a\r\nSET x 1", "a%0D%0ASET%20x%201"},
		{"a\x00b\x7f", "a%00b%7F"},
		{"100%", "100%25"},
		{"é", "%C3%A9"},
		{"x~y", "x%7Ey"},
	} {
		if got := SafeKey(tc.in); got != tc.want {
			t.Errorf("SafeKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	long := strings.Repeat("a", MaxKeyLen+1)
	got := SafeKey(long)
	if len(got) != MaxKeyLen {
		t.Errorf("len(SafeKey(long)) = %d, want %d", len(got), MaxKeyLen)
	}
	if want := strings.Repeat("a", MaxKeyLen-44) + "~" + sha(long); got != want {
		t.Errorf("SafeKey(long) = %q, want %q", got, want)
	}
	if other := SafeKey(long + "b"); other == got {
		t.Error("two long keys with the same head got the same SafeKey")
	}
	if got := SafeKey(strings.Repeat("a", MaxKeyLen)); got != strings.Repeat("a", MaxKeyLen) {
		t.Errorf("a key of exactly MaxKeyLen was changed to %q", got)
	}
	// Escaping can push a key over the bound.
	if got := SafeKey(strings.Repeat("{", MaxKeyLen/2)); len(got) != MaxKeyLen || strings.ContainsAny(got, "{}") {
		t.Errorf("SafeKey of braces = %q (%d bytes)", got, len(got))
	}
}

func FuzzSafeKey(f *testing.F) {
	f.Add("user:{a}", "user:%7Ba%7D")
	f.Add(strings.Repeat("x", 300), strings.Repeat("x", 299))
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := SafeKey(a), SafeKey(b)
		if len(ka) > MaxKeyLen {
			t.Fatalf("SafeKey(%q) is %d bytes", a, len(ka))
		}
		for i := 0; i < len(ka); i++ {
			if c := ka[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
				t.Fatalf("SafeKey(%q) = %q contains %q", a, ka, c)
			}
		}
		if a != b && ka == kb {
			t.Fatalf("SafeKey(%q) == SafeKey(%q) == %q", a, b, ka)
		}
	})
}
