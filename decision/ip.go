package decision

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Default prefix lengths that addresses are grouped by (see IPOptions).
const (
	// DefaultIPv4Prefix is the default value of IPOptions.IPv4Prefix: every
	// IPv4 address is its own key.
	DefaultIPv4Prefix = 32
	// DefaultIPv6Prefix is the default value of IPOptions.IPv6Prefix. A /64
	// is the smallest network a site is normally assigned, so one client
	// can hold billions of addresses inside it: keying single IPv6
	// addresses would let it pick a fresh key per request.
	DefaultIPv6Prefix = 64
)

// Proxy headers that IPOptions.Header may name, in the canonical form of
// HTTP header names (gRPC metadata's Get lowercases them).
const (
	HeaderForwarded     = "Forwarded"       // RFC 7239
	HeaderXForwardedFor = "X-Forwarded-For" // de facto
	HeaderXRealIP       = "X-Real-Ip"       // nginx; canonical form of X-Real-IP
)

// maxHops bounds how many entries of a proxy header are examined, so that a
// header of any length costs bounded work. No real chain of trusted proxies
// is this long.
const maxHops = 64

// IPOptions configures an IPKeyer. The zero value keys the peer address
// (RemoteAddr), IPv6 grouped by /64. Behind reverse proxies set both
// TrustedProxies and Header:
//
//	decision.IPOptions{TrustedProxies: proxies, Header: decision.HeaderXForwardedFor}
type IPOptions struct {
	// TrustedProxies are the networks of the reverse proxies in front of
	// the server. Proxy headers are read only when the peer is in one of
	// them, and only as far back as the chain of trusted hops goes: the
	// client address is the rightmost entry that is not a trusted proxy. A
	// header sent by an untrusted peer is never read. Empty (the default)
	// means the peer address is the client address.
	TrustedProxies []netip.Prefix
	// Header is the one proxy header the client address is read from:
	// HeaderXForwardedFor, HeaderForwarded or HeaderXRealIP (any case),
	// the one your proxies set or append to. It is required with
	// TrustedProxies, and there is no default and no fallback because
	// each would be spoofable: a proxy passes the headers it does not set
	// through unchanged, so behind nginx appending X-Forwarded-For a
	// client's own Forwarded header, and behind a proxy setting X-Real-IP
	// a client's own X-Forwarded-For, would choose its address.
	Header string
	// IPv4Prefix is the prefix length IPv4 addresses are grouped by; 0
	// means DefaultIPv4Prefix.
	IPv4Prefix int
	// IPv6Prefix is the prefix length IPv6 addresses are grouped by; 0
	// means DefaultIPv6Prefix. Use 128 to key single addresses.
	IPv6Prefix int
}

// IPKeyer finds a request's client address, from its peer address and its
// proxy headers (or metadata), and turns it into a key. It is
// safe for simultaneous use by multiple goroutines. The zero IPKeyer is
// NewIPKeyer(IPOptions{}): it trusts no proxy and groups addresses by the
// default prefix lengths.
type IPKeyer struct {
	trusted []netip.Prefix
	header  string // canonical; "" only when no proxy is trusted
	v4, v6  int
}

// NewIPKeyer returns an IPKeyer for opts, or an error when a prefix length
// is out of range, Header is not one it can parse, or TrustedProxies is set
// without a Header.
func NewIPKeyer(opts IPOptions) (*IPKeyer, error) {
	k := &IPKeyer{v4: opts.IPv4Prefix, v6: opts.IPv6Prefix}
	if k.v4 == 0 {
		k.v4 = DefaultIPv4Prefix
	}
	if k.v6 == 0 {
		k.v6 = DefaultIPv6Prefix
	}
	if k.v4 < 1 || k.v4 > 32 {
		return nil, fmt.Errorf("IPv4Prefix %d out of range 1..32", opts.IPv4Prefix)
	}
	if k.v6 < 1 || k.v6 > 128 {
		return nil, fmt.Errorf("IPv6Prefix %d out of range 1..128", opts.IPv6Prefix)
	}
	for _, p := range opts.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("invalid trusted proxy prefix %v", p)
		}
		k.trusted = append(k.trusted, p.Masked())
	}
	switch h := opts.Header; {
	case strings.EqualFold(h, HeaderForwarded):
		k.header = HeaderForwarded
	case strings.EqualFold(h, HeaderXForwardedFor):
		k.header = HeaderXForwardedFor
	case strings.EqualFold(h, HeaderXRealIP):
		k.header = HeaderXRealIP
	case h == "":
		if len(k.trusted) > 0 {
			return nil, errors.New("IPOptions.TrustedProxies needs Header: name the one header your proxies set (X-Forwarded-For, Forwarded or X-Real-IP)")
		}
	default:
		return nil, fmt.Errorf("unsupported proxy header %q (want X-Forwarded-For, Forwarded or X-Real-IP)", opts.Header)
	}
	return k, nil
}

// AddrKey returns the key of addr: "ip:" and the address, or its network
// when the prefix length for its family is shorter than the address.
// The zero IPKeyer groups by the default prefix lengths.
func (k *IPKeyer) AddrKey(addr netip.Addr) string {
	bits := cmp.Or(k.v6, DefaultIPv6Prefix)
	if addr.Is4() {
		bits = cmp.Or(k.v4, DefaultIPv4Prefix)
	}
	var buf [64]byte // room for "ip:" and the longest IPv6 prefix
	b := append(buf[:0], "ip:"...)
	if bits == addr.BitLen() {
		return string(addr.AppendTo(b))
	}
	p, err := addr.Prefix(bits)
	if err != nil { // only for the zero Addr, which ClientAddr never returns
		return "ip:invalid"
	}
	return string(p.AppendTo(b))
}

// ClientAddr returns the client address of a request that came from peer
// with the headers that values returns (http.Header.Values, or a gRPC
// metadata.MD's Get). When peer is a trusted proxy it walks the configured
// proxy header from the right while the hop is a trusted proxy, and stops
// at an entry it cannot parse, returning the trusted hop that reported it.
// It reads no other header.
func (k *IPKeyer) ClientAddr(peer netip.Addr, values func(name string) []string) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if len(k.trusted) == 0 || !Contains(k.trusted, peer) {
		return peer
	}
	lines := values(k.header)
	if len(lines) == 0 {
		return peer
	}
	if k.header == HeaderXRealIP {
		// One value, set by the proxy; the last line is the nearest.
		if a, ok := ParseAddr(strings.TrimSpace(lines[len(lines)-1])); ok {
			return a
		}
		return peer
	}
	return k.walk(peer, lines, k.header == HeaderForwarded)
}

// walk scans hops from the right, starting after peer, a trusted proxy.
func (k *IPKeyer) walk(peer netip.Addr, lines []string, forwarded bool) netip.Addr {
	addr, hops := peer, 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var elem string
			if forwarded {
				line, elem = lastForwardedElement(line)
				if strings.TrimSpace(elem) == "" {
					continue // empty list members are allowed and mean nothing
				}
				elem = forwardedFor(elem)
			} else {
				j := strings.LastIndexByte(line, ',')
				line, elem = line[:max(j, 0)], line[j+1:]
			}
			elem = strings.TrimSpace(elem)
			if hops++; hops > maxHops {
				return addr
			}
			a, ok := ParseAddr(elem)
			if !ok {
				return addr
			}
			addr = a
			if !Contains(k.trusted, addr) {
				return addr
			}
		}
	}
	return addr
}

// lastForwardedElement splits a Forwarded line before its last element,
// scanning from the right, where the nearest proxy appended its element:
// a comma inside a quoted string (rare, but legal) does not split an
// element, and a quote the client left open further left cannot hide the
// comma before the proxy's element, as a scan from the left would let it.
func lastForwardedElement(s string) (rest, elem string) {
	quoted := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			if !escaped(s, i) {
				quoted = !quoted
			}
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return "", s
}

// escaped reports whether s[i] follows an odd number of backslashes.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// forwardedFor returns the value of the "for" parameter of a Forwarded
// element (for=192.0.2.60;proto=http), unquoted, or "" when it has none:
// an element without one says nothing about the client, and the walk stops.
func forwardedFor(elem string) string {
	for elem != "" {
		var pair string
		pair, elem = cutUnquoted(elem, ';')
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "for") {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = strings.ReplaceAll(value[1:len(value)-1], `\`, "")
		}
		return value
	}
	return ""
}

// cutUnquoted cuts s around the first sep outside a quoted string.
func cutUnquoted(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// ParseAddr parses one hop of a proxy header, or a peer address: an IP
// address, optionally with a port ("192.0.2.1:80", "[2001:db8::1]:80") or
// in brackets ("[2001:db8::1]"), unmapped and without a zone. Obfuscated
// identifiers and "unknown" (RFC 7239) are not addresses.
func ParseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// Contains reports whether a is in one of ps.
func Contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
