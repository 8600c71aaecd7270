package httplimit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/smartlimit/smartlimit/decision"
)

// Client addresses are found by decision.IPKeyer, which grpclimit shares;
// the names below keep httplimit's API and add the net/http forms.

// Default prefix lengths that addresses are grouped by (see IPOptions).
const (
	// DefaultIPv4Prefix is the default value of IPOptions.IPv4Prefix: every
	// IPv4 address is its own key.
	DefaultIPv4Prefix = decision.DefaultIPv4Prefix
	// DefaultIPv6Prefix is the default value of IPOptions.IPv6Prefix; see
	// decision.DefaultIPv6Prefix for why it is a /64.
	DefaultIPv6Prefix = decision.DefaultIPv6Prefix
)

// Proxy headers that IPOptions.Header may name.
const (
	HeaderForwarded     = decision.HeaderForwarded     // RFC 7239
	HeaderXForwardedFor = decision.HeaderXForwardedFor // de facto
	HeaderXRealIP       = decision.HeaderXRealIP       // nginx; canonical form of X-Real-IP
)

// IPOptions configures an IPKeyer. The zero value keys the peer address
// (RemoteAddr), IPv6 grouped by /64. Behind reverse proxies set both
// TrustedProxies and Header:
//
//	httplimit.IPOptions{TrustedProxies: proxies, Header: httplimit.HeaderXForwardedFor}
//
// It is decision.IPOptions, which documents its fields.
type IPOptions = decision.IPOptions

// IPKeyer finds a request's client address and turns it into a key. It is
// safe for simultaneous use by multiple goroutines. The zero IPKeyer is
// NewIPKeyer(IPOptions{}): it trusts no proxy and groups addresses by the
// default prefix lengths. It is a decision.IPKeyer with the net/http
// methods Key and In.
type IPKeyer struct {
	k decision.IPKeyer
}

// NewIPKeyer returns an IPKeyer for opts, or an error when a prefix length
// is out of range, Header is not one it can parse, or TrustedProxies is set
// without a Header.
func NewIPKeyer(opts IPOptions) (*IPKeyer, error) {
	k, err := decision.NewIPKeyer(opts)
	if err != nil {
		return nil, fmt.Errorf("httplimit: %w", err)
	}
	return &IPKeyer{k: *k}, nil
}

// Key is a KeyFunc: it returns "ip:" and the client address, grouped by
// the configured prefix length ("ip:192.0.2.1", "ip:2001:db8:1:2::/64").
func (k *IPKeyer) Key(r *http.Request) (string, error) {
	peer, err := PeerAddr(r)
	if err != nil {
		return "", err
	}
	return k.k.AddrKey(k.k.ClientAddr(peer, r.Header.Values)), nil
}

// In returns a function, usable as Options.Exempt, that reports whether a
// request's client address is in one of prefixes.
func (k *IPKeyer) In(prefixes ...netip.Prefix) func(*http.Request) bool {
	ps := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		ps[i] = p.Masked()
	}
	return func(r *http.Request) bool {
		peer, err := PeerAddr(r)
		if err != nil {
			return false
		}
		return decision.Contains(ps, k.k.ClientAddr(peer, r.Header.Values))
	}
}

// AddrKey returns the key of addr: "ip:" and the address, or its network
// when the prefix length for its family is shorter than the address.
func (k *IPKeyer) AddrKey(addr netip.Addr) string { return k.k.AddrKey(addr) }

// ClientAddr returns the client address of a request that came from peer
// with the headers that values returns (http.Header.Values); see
// decision.IPKeyer.ClientAddr. It reads no other header than the one
// configured.
func (k *IPKeyer) ClientAddr(peer netip.Addr, values func(name string) []string) netip.Addr {
	return k.k.ClientAddr(peer, values)
}

// defaultKeyer is the zero IPKeyer: no proxy, default prefix lengths.
var defaultKeyer decision.IPKeyer

// errNoPeer is wrapped by PeerAddr's errors.
var errNoPeer = errors.New("no peer address")

// PeerAddr returns the address of the peer that sent r, from r.RemoteAddr.
// It fails (with an error matching ErrNoKey) when RemoteAddr holds no IP
// address, as for a server on a Unix socket.
func PeerAddr(r *http.Request) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone(""), nil
	}
	if a, ok := decision.ParseAddr(r.RemoteAddr); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: RemoteAddr %q: %w", ErrNoKey, r.RemoteAddr, errNoPeer)
}

// RemoteIP is a KeyFunc that keys the peer address (RemoteAddr), IPv4
// addresses singly and IPv6 addresses by their /64. It ignores every proxy
// header; behind a reverse proxy use ClientIP.
func RemoteIP(r *http.Request) (string, error) {
	peer, err := PeerAddr(r)
	if err != nil {
		return "", err
	}
	return defaultKeyer.AddrKey(peer), nil
}

// ClientIP returns a KeyFunc that keys the client address as opts trusts
// it; see IPOptions and IPKeyer.ClientAddr. It is shorthand for
// NewIPKeyer(opts) and its Key method.
func ClientIP(opts IPOptions) (KeyFunc, error) {
	k, err := NewIPKeyer(opts)
	if err != nil {
		return nil, err
	}
	return k.Key, nil
}
