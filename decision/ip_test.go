package decision

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"unicode"
)

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func TestClientAddrBoundedHops(t *testing.T) {
	t.Parallel()
	// A chain of trusted hops longer than maxHops stops at maxHops entries.
	k, err := NewIPKeyer(IPOptions{TrustedProxies: mustPrefixes(t, "10.0.0.0/8"), Header: HeaderXForwardedFor})
	if err != nil {
		t.Fatal(err)
	}
	hops := make([]string, 0, 2*maxHops)
	hops = append(hops, "203.0.113.1")
	for range 2 * maxHops {
		hops = append(hops, "10.0.0.7")
	}
	h := http.Header{"X-Forwarded-For": {strings.Join(hops, ",")}}
	got := k.ClientAddr(netip.MustParseAddr("10.0.0.1"), h.Values)
	if want := netip.MustParseAddr("10.0.0.7"); got != want {
		t.Errorf("ClientAddr = %v, want %v", got, want)
	}
}

// FuzzClientAddr checks that proxy-header parsing never panics, returns an
// address from the request (the peer or a parsable entry), never trusts a
// header from an untrusted peer, and yields a short key.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.2", `for=192.0.2.60;proto=http`, "203.0.113.9")
	f.Add("192.0.2.1", "203.0.113.7", `for="[2001:db8:cafe::17]:4711", for=10.0.0.9`, "")
	f.Add("10.0.0.1", ",,,", `for="\"a,b\"";x="\\", for=_hidden`, "[::1]")
	f.Add("2001:db8:ffff::1", "2001:db8::1%eth0, [2001:db8::2]:80", `FOR=[::ffff:10.0.0.1]`, "::ffff:1.2.3.4")
	// Oracle false positives the fuzzer found ("Hold at the edges", item
	// 21): ClientAddr trims what strings.TrimSpace trims (\r, \v, U+00A0 …)
	// and drops the backslashes of a quoted Forwarded value, so ::0.0.0.1
	// (which is ::1) must count as mentioned however it is padded or quoted.
	f.Add("10.0.0.1", "", "", "::0.0.0.1\r")
	f.Add("10.0.0.1", "::0.0.0.1\v", "", "")
	f.Add("10.0.0.1", "", "", "\u00a0::0.0.0.1")
	f.Add("10.0.0.1", "", `for="::0.0.0.\1"`, "")
	f.Add("10.0.0.0", "", "1", "::01")
	f.Fuzz(func(t *testing.T, peer, xff, fwd, real string) {
		peerAddr, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		for _, header := range []string{HeaderForwarded, HeaderXForwardedFor, HeaderXRealIP} {
			k, err := NewIPKeyer(IPOptions{TrustedProxies: mustPrefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48", "::1/128"), Header: header})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h["X-Forwarded-For"] = strings.Split(xff, "\n")
			h["Forwarded"] = []string{fwd}
			h["X-Real-Ip"] = []string{real}
			got := k.ClientAddr(peerAddr, h.Values)
			if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
				t.Fatalf("ClientAddr = %v: want a plain valid address", got)
			}
			norm := peerAddr.Unmap().WithZone("")
			if !Contains(k.trusted, norm) && got != norm {
				t.Fatalf("untrusted peer %v: ClientAddr = %v, want the peer", norm, got)
			}
			// Joined by a separator: concatenated, "1" and "::01" would
			// read as 1::1.
			if got != norm && !mentions(strings.Join([]string{xff, fwd, real}, "\n"), got) {
				t.Fatalf("ClientAddr = %v appears nowhere in the headers", got)
			}
			if key := SafeKey(k.AddrKey(got)); len(key) > 64 {
				t.Fatalf("key %q is %d bytes", key, len(key))
			}
		}
	})
}

// mentions reports whether some token of s parses to a. Tokens are split
// at the headers' separators and at every rune strings.TrimSpace trims (as
// ClientAddr trims entries), and lose their backslashes, as a quoted
// Forwarded value does: otherwise an entry padded with \r or U+00A0, or
// quoted with escapes, is reported as appearing nowhere.
func mentions(s string, a netip.Addr) bool {
	sep := func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`,;="`, r) }
	for _, f := range strings.FieldsFunc(strings.ReplaceAll(s, `\`, ""), sep) {
		if b, ok := ParseAddr(f); ok && b == a {
			return true
		}
		if i := strings.LastIndexByte(f, '%'); i > 0 { // zone
			if b, ok := ParseAddr(strings.Trim(f[:i], "[")); ok && b == a {
				return true
			}
		}
	}
	return false
}

// A proxy that appends its element to the Forwarded line the client sent
// (nginx's "$http_forwarded, for=$remote_addr") is read from the right: a
// quote the client leaves open cannot hide the comma before the proxy's
// element and make the client's own for= the client address.
func TestForwardedOpenQuote(t *testing.T) {
	k, err := NewIPKeyer(IPOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Header: HeaderForwarded})
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range []string{`for=1.2.3.4;x="`, `for=1.2.3.4;by="`, `for="[2001:db8::1]`, `for=1.2.3.4;x="\"`} {
		line := client + ", for=5.6.7.8"
		if got := k.ClientAddr(netip.MustParseAddr("10.0.0.1"), func(string) []string { return []string{line} }); got != netip.MustParseAddr("5.6.7.8") {
			t.Errorf("Forwarded: %s = %v, want 5.6.7.8, the address the proxy appended", line, got)
		}
	}
	// Quoted commas still do not split an element.
	line := `for="[2001:db8::1]:4711";x="a,b", for=5.6.7.8;host="c,d"`
	if got := k.ClientAddr(netip.MustParseAddr("10.0.0.1"), func(string) []string { return []string{line} }); got != netip.MustParseAddr("5.6.7.8") {
		t.Errorf("Forwarded: %s = %v, want 5.6.7.8", line, got)
	}
}
