package httplimit

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		remote, want string
	}{
		{"192.0.2.1:1234", "ip:192.0.2.1"},
		{"192.0.2.1", "ip:192.0.2.1"}, // some servers set no port
		{"[2001:db8:1:2:3:4:5:6]:443", "ip:2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "ip:2001:db8:1:2::/64"}, // same /64, same key
		{"[::ffff:192.0.2.1]:80", "ip:192.0.2.1"},              // mapped IPv4 is IPv4
		{"[fe80::1%eth0]:80", "ip:fe80::/64"},                  // zones dropped
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Forwarded-For", "203.0.113.9") // never read
		got, err := RemoteIP(r)
		if err != nil {
			t.Errorf("RemoteIP(%q): %v", tc.remote, err)
			continue
		}
		if got != tc.want {
			t.Errorf("RemoteIP(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
	for _, remote := range []string{"", "@", "pipe", "192.0.2.1:x"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if _, err := RemoteIP(r); !errors.Is(err, ErrNoKey) {
			t.Errorf("RemoteIP(%q) error = %v, want ErrNoKey", remote, err)
		}
	}
}

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := mustPrefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48")
	type hdr = map[string][]string
	for _, tc := range []struct {
		name    string
		remote  string
		headers hdr
		opts    IPOptions // TrustedProxies defaults to trusted
		want    string
	}{
		{"no header", "10.0.0.1:1", nil, IPOptions{}, "ip:10.0.0.1"},
		{"spoofed XFF from untrusted peer", "192.0.2.1:1",
			hdr{"X-Forwarded-For": {"203.0.113.7"}}, IPOptions{}, "ip:192.0.2.1"},
		{"spoofed Forwarded from untrusted peer", "192.0.2.1:1",
			hdr{"Forwarded": {"for=203.0.113.7"}}, IPOptions{Header: HeaderForwarded}, "ip:192.0.2.1"},
		{"spoofed X-Real-IP from untrusted peer", "192.0.2.1:1",
			hdr{"X-Real-Ip": {"203.0.113.7"}}, IPOptions{Header: HeaderXRealIP}, "ip:192.0.2.1"},
		{"one trusted proxy", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"203.0.113.7"}}, IPOptions{}, "ip:203.0.113.7"},
		{"chain: client-supplied prefix ignored", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7, 10.0.0.2"}}, IPOptions{}, "ip:203.0.113.7"},
		{"chain over several header lines", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7", "10.0.0.3,10.0.0.2"}}, IPOptions{}, "ip:203.0.113.7"},
		{"only proxies: the leftmost", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"10.0.0.3, 10.0.0.2"}}, IPOptions{}, "ip:10.0.0.3"},
		{"garbage stops at the trusted hop that reported it", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"203.0.113.7, bogus, 10.0.0.2"}}, IPOptions{}, "ip:10.0.0.2"},
		{"empty XFF entry stops the walk", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"203.0.113.7,,"}}, IPOptions{}, "ip:10.0.0.1"},
		{"XFF entry with port", "10.0.0.1:1",
			hdr{"X-Forwarded-For": {"203.0.113.7:5555"}}, IPOptions{}, "ip:203.0.113.7"},
		{"IPv6 client behind IPv6 proxy", "[2001:db8:ffff::1]:1",
			hdr{"X-Forwarded-For": {"2001:db8:aaaa:bbbb::99"}}, IPOptions{}, "ip:2001:db8:aaaa:bbbb::/64"},
		{"Forwarded, RFC 7239 example", "10.0.0.1:1",
			hdr{"Forwarded": {"for=192.0.2.60;proto=http;by=203.0.113.43"}}, IPOptions{Header: HeaderForwarded}, "ip:192.0.2.60"},
		{"Forwarded, quoted IPv6 with port", "10.0.0.1:1",
			hdr{"Forwarded": {`for="[2001:db8:cafe::17]:4711"`}}, IPOptions{Header: HeaderForwarded}, "ip:2001:db8:cafe::/64"},
		{"Forwarded chain, case-insensitive name", "10.0.0.1:1",
			hdr{"Forwarded": {"for=198.51.100.17, For=203.0.113.60;proto=https, for=10.0.0.9"}}, IPOptions{Header: HeaderForwarded}, "ip:203.0.113.60"},
		{"Forwarded quoted comma does not split", "10.0.0.1:1",
			hdr{"Forwarded": {`for=203.0.113.60;ext="a,b", for=10.0.0.9`}}, IPOptions{Header: HeaderForwarded}, "ip:203.0.113.60"},
		{"Forwarded obfuscated node stops the walk", "10.0.0.1:1",
			hdr{"Forwarded": {`for=198.51.100.17, for="_hidden", for=10.0.0.9`}}, IPOptions{Header: HeaderForwarded}, "ip:10.0.0.9"},
		{"Forwarded unknown stops the walk", "10.0.0.1:1",
			hdr{"Forwarded": {`for=unknown`}}, IPOptions{Header: HeaderForwarded}, "ip:10.0.0.1"},
		{"Forwarded without for", "10.0.0.1:1",
			hdr{"Forwarded": {`proto=https`}}, IPOptions{Header: HeaderForwarded}, "ip:10.0.0.1"},
		{"Forwarded empty members skipped", "10.0.0.1:1",
			hdr{"Forwarded": {`for=203.0.113.60, , `}}, IPOptions{Header: HeaderForwarded}, "ip:203.0.113.60"},
		{"X-Real-IP from trusted proxy", "10.0.0.1:1",
			hdr{"X-Real-Ip": {"203.0.113.7"}}, IPOptions{Header: HeaderXRealIP}, "ip:203.0.113.7"},
		{"X-Real-IP invalid", "10.0.0.1:1",
			hdr{"X-Real-Ip": {"nope"}}, IPOptions{Header: HeaderXRealIP}, "ip:10.0.0.1"},
		// Only the named header is read, whatever else the request carries.
		{"X-Forwarded-For named, Forwarded ignored", "10.0.0.1:1",
			hdr{"Forwarded": {"for=203.0.113.1"}, "X-Forwarded-For": {"203.0.113.2"}},
			IPOptions{Header: "x-forwarded-for"}, "ip:203.0.113.2"},
		{"Forwarded named, X-Forwarded-For ignored", "10.0.0.1:1",
			hdr{"Forwarded": {"for=203.0.113.1"}, "X-Forwarded-For": {"203.0.113.2"}},
			IPOptions{Header: HeaderForwarded}, "ip:203.0.113.1"},
		{"X-Real-IP named, X-Forwarded-For ignored", "10.0.0.1:1",
			hdr{"X-Real-Ip": {"203.0.113.3"}, "X-Forwarded-For": {"203.0.113.2"}},
			IPOptions{Header: "X-Real-IP"}, "ip:203.0.113.3"},
		{"named header absent: no fallback", "10.0.0.1:1",
			hdr{"Forwarded": {"for=203.0.113.1"}, "X-Forwarded-For": {"203.0.113.2"}},
			IPOptions{Header: HeaderXRealIP}, "ip:10.0.0.1"},
		{"IPv6 prefix /56", "[2001:db8:ffff::1]:1",
			hdr{"X-Forwarded-For": {"2001:db8:aaaa:bbff::99"}}, IPOptions{IPv6Prefix: 56}, "ip:2001:db8:aaaa:bb00::/56"},
		{"IPv6 single addresses", "[2001:db8:1::5]:1", nil, IPOptions{IPv6Prefix: 128}, "ip:2001:db8:1::5"},
		{"IPv4 /24", "192.0.2.77:1", nil, IPOptions{IPv4Prefix: 24}, "ip:192.0.2.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.TrustedProxies = trusted
			if opts.Header == "" {
				opts.Header = HeaderXForwardedFor
			}
			key, err := ClientIP(opts)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for k, vs := range tc.headers {
				r.Header[k] = vs
			}
			got, err := key(r)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("key = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientIPNoTrustedProxies(t *testing.T) {
	t.Parallel()
	// Without trusted proxies every header is ignored, from any peer.
	key, err := ClientIP(IPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("Forwarded", "for=203.0.113.8")
	r.Header.Set("X-Real-IP", "203.0.113.9")
	if got, err := key(r); err != nil || got != "ip:192.0.2.1" {
		t.Errorf("key = %q, %v; want ip:192.0.2.1", got, err)
	}
}

func TestNewIPKeyerErrors(t *testing.T) {
	t.Parallel()
	for _, opts := range []IPOptions{
		{IPv4Prefix: 33},
		{IPv4Prefix: -1},
		{IPv6Prefix: 129},
		{Header: "X-Client-IP"},
		// Trusting proxies without naming their header would need a
		// default, and every default is spoofable behind some proxy.
		{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{TrustedProxies: []netip.Prefix{{}}},
	} {
		if _, err := NewIPKeyer(opts); err == nil {
			t.Errorf("NewIPKeyer(%+v) succeeded, want an error", opts)
		}
	}
}

func TestIPKeyerIn(t *testing.T) {
	t.Parallel()
	k, err := NewIPKeyer(IPOptions{TrustedProxies: mustPrefixes(t, "10.0.0.0/8"), Header: HeaderXForwardedFor})
	if err != nil {
		t.Fatal(err)
	}
	in := k.In(mustPrefixes(t, "203.0.113.0/24", "192.0.2.1/32")...)
	for _, tc := range []struct {
		remote, xff string
		want        bool
	}{
		{"192.0.2.1:1", "", true},
		{"192.0.2.2:1", "", false},
		{"192.0.2.2:1", "203.0.113.5", false}, // untrusted peer: header ignored
		{"10.0.0.1:1", "203.0.113.5", true},
		{"10.0.0.1:1", "198.51.100.1", false},
		{"@", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := in(r); got != tc.want {
			t.Errorf("In(%s, XFF %q) = %v, want %v", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestZeroIPKeyer(t *testing.T) {
	t.Parallel()
	var k IPKeyer
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if got, err := k.Key(r); err != nil || got != "ip:2001:db8:1:2::/64" {
		t.Errorf("zero IPKeyer: Key = %q, %v; want ip:2001:db8:1:2::/64", got, err)
	}
	if got := k.AddrKey(netip.MustParseAddr("192.0.2.1")); got != "ip:192.0.2.1" {
		t.Errorf("zero IPKeyer: AddrKey = %q", got)
	}
}
