package httplimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type userKey struct{}

func userID(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(userKey{}).(string)
	return u, ok
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestKeyFuncs(t *testing.T) {
	t.Parallel()
	req := func(target string, edit func(r *http.Request)) *http.Request {
		r := httptest.NewRequest("GET", target, nil)
		if edit != nil {
			edit(r)
		}
		return r
	}
	withUser := func(u string) func(r *http.Request) {
		return func(r *http.Request) { *r = *r.WithContext(context.WithValue(r.Context(), userKey{}, u)) }
	}
	for _, tc := range []struct {
		name string
		key  KeyFunc
		r    *http.Request
		want string // "" means ErrNoKey
	}{
		{"header", Header("x-tenant"), req("/", func(r *http.Request) { r.Header.Set("X-Tenant", "acme") }), "header:X-Tenant=acme"},
		{"header missing", Header("X-Tenant"), req("/", nil), ""},
		{"query", Query("client"), req("/?client=c1&x=2", nil), "query:client=c1"},
		{"query missing", Query("client"), req("/?x=2", nil), ""},
		{"cookie", Cookie("sid"), req("/", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "sid", Value: "s3"}) }), "cookie:sid=s3"},
		{"cookie missing", Cookie("sid"), req("/", nil), ""},
		{"path", Path, req("/items/42?x=1", nil), "path:/items/42"},
		{"host", Host, req("http://API.Example.com:8080/", nil), "host:api.example.com:8080"},
		{"host missing", Host, req("/", func(r *http.Request) { r.Host = "" }), ""},
		{"pattern without method", MethodAndPattern, req("/", func(r *http.Request) { r.Pattern = "/items/{id}" }), "route:GET /items/{id}"},
		{"pattern with method", MethodAndPattern, req("/", func(r *http.Request) { r.Pattern = "GET /items/{id}" }), "route:GET /items/{id}"},
		{"pattern with host", MethodAndPattern, req("/", func(r *http.Request) { r.Pattern = "example.com/items/{id}" }), "route:GET example.com/items/{id}"},
		{"pattern missing", MethodAndPattern, req("/", nil), ""},
		{"user", User(userID), req("/", withUser("alice")), "user:alice"},
		{"user missing", User(userID), req("/", nil), ""},
		{"bearer", APIKey, req("/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer sk_live_123") }), "apikey:" + sha("sk_live_123")},
		{"bearer case", APIKey, req("/", func(r *http.Request) { r.Header.Set("Authorization", "bearer  sk_live_123 ") }), "apikey:" + sha("sk_live_123")},
		{"x-api-key", APIKey, req("/", func(r *http.Request) { r.Header.Set("X-API-Key", "k9") }), "apikey:" + sha("k9")},
		{"basic auth is no API key", APIKey, req("/", func(r *http.Request) { r.SetBasicAuth("u", "p") }), ""},
		{"api key missing", APIKey, req("/", nil), ""},
		{"compose", Compose(User(userID), Path), req("/a", withUser("bob")), "user:bob|path:/a"},
		{"compose escapes separator", Compose(Header("X-A"), Header("X-B")),
			req("/", func(r *http.Request) { r.Header.Set("X-A", "1|2%"); r.Header.Set("X-B", "3") }), "header:X-A=1%7C2%25|header:X-B=3"},
		{"compose missing part", Compose(User(userID), Path), req("/a", nil), ""},
		{"first falls back", First(APIKey, User(userID), RemoteIP), req("/", withUser("carol")), "user:carol"},
		{"first to address", First(APIKey, RemoteIP), req("/", nil), "ip:192.0.2.1"},
		{"first none", First(APIKey, User(userID)), req("/", nil), ""},
		{"first of nothing", First(), req("/", nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key(tc.r)
			if tc.want == "" {
				if !errors.Is(err, ErrNoKey) {
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

func TestAPIKeyNeverInKey(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer sekrit-token")
	got, err := APIKey(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "sekrit") {
		t.Errorf("APIKey = %q contains the credential", got)
	}
}

func TestFirstStopsOnOtherErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	key := First(func(*http.Request) (string, error) { return "", boom }, RemoteIP)
	if _, err := key(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}

func TestMuxPattern(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/static/", func(http.ResponseWriter, *http.Request) {})
	key := MuxPattern(mux)
	for target, want := range map[string]string{
		"/items/1":      "route:GET /items/{id}",
		"/items/2":      "route:GET /items/{id}",
		"/static/a.css": "route:GET /static/",
		"/nothing":      "route:unmatched",
	} {
		got, err := key(httptest.NewRequest("GET", target, nil))
		if err != nil || got != want {
			t.Errorf("MuxPattern(%s) = %q, %v; want %q", target, got, err, want)
		}
	}
	// A made-up method mints no key of its own.
	if got, err := key(httptest.NewRequest("M7", "/static/a.css", nil)); err != nil || got != "route:* /static/" {
		t.Errorf("MuxPattern(M7 /static/a.css) = %q, %v; want %q", got, err, "route:* /static/")
	}
}

func TestMethodAndPatternInServeMux(t *testing.T) {
	t.Parallel()
	// Wrapping a route's handler sees r.Pattern, set by the mux.
	var got []string
	mux := http.NewServeMux()
	mux.Handle("/items/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := MethodAndPattern(r)
		if err != nil {
			t.Error(err)
		}
		got = append(got, k)
	}))
	for _, m := range []string{"GET", "POST"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/items/7", nil))
	}
	for _, m := range []string{"M1", "M2"} { // made up: one key for them all
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/items/7", nil))
	}
	if want := []string{"route:GET /items/{id}", "route:POST /items/{id}", "route:* /items/{id}", "route:* /items/{id}"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("keys = %q, want %q", got, want)
	}
}
