// Package netguard decides which network addresses the server may connect
// to on a user's behalf — pulled IP cameras and their snapshot URLs — so
// that one home cannot make the server reach the server's own services
// (loopback, cloud metadata on link-local addresses, the private network
// of a hosted deployment) unless the operator allows it.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// LANNetworks are the private LAN ranges a home NVR may pull cameras
// from. They are no default: an operator lists them (or narrower ones)
// in live.pull_networks to turn pulling on.
const LANNetworks = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

// ErrRefused is returned for an address outside the allowed networks.
var ErrRefused = errors.New("netguard: address not in the allowed networks")

// Policy is a list of allowed networks. The zero Policy allows nothing.
type Policy struct {
	nets []netip.Prefix
}

// Parse reads a comma-separated list of CIDR prefixes; empty allows
// nothing.
func Parse(s string) (Policy, error) {
	var p Policy
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(f)
		if err != nil {
			return Policy{}, fmt.Errorf("%q is not a CIDR prefix such as 192.168.0.0/16", f)
		}
		p.nets = append(p.nets, pfx.Masked())
	}
	return p, nil
}

// Empty reports whether the policy allows nothing.
func (p Policy) Empty() bool { return len(p.nets) == 0 }

// String lists the networks.
func (p Policy) String() string {
	s := make([]string, len(p.nets))
	for i, n := range p.nets {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

// specialRanges reach the machine itself, its link, or everyone on it.
var specialRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// specialRange returns the special range holding a, if any.
func specialRange(a netip.Addr) (netip.Prefix, bool) {
	for _, r := range specialRanges {
		if r.Contains(a) {
			return r, true
		}
	}
	return netip.Prefix{}, false
}

// Allowed reports whether the policy allows connecting to a. Special
// addresses (loopback, link-local, unspecified, multicast, broadcast) are
// allowed only by a listed network inside their special range —
// 127.0.0.0/8, say — never by a broad one such as 0.0.0.0/0.
func (p Policy) Allowed(a netip.Addr) bool {
	a = a.Unmap()
	r, isSpecial := specialRange(a)
	for _, n := range p.nets {
		if !n.Contains(a) {
			continue
		}
		if !isSpecial || (n.Bits() >= r.Bits() && r.Contains(n.Addr())) {
			return true
		}
	}
	return false
}

// CheckHost resolves host and checks every address it names.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	if p.Empty() {
		return ErrRefused
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !p.Allowed(a) {
			return ErrRefused
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("netguard: %s does not resolve", host)
	}
	for _, a := range addrs {
		if !p.Allowed(a) {
			return ErrRefused
		}
	}
	return nil
}

// DialContext connects like net.Dialer but only to allowed addresses: the
// check runs on the address actually connected to, after name resolution,
// so a name that changes its answer (DNS rebinding) gains nothing.
func (p Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, addr string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !p.Allowed(ap.Addr()) {
			return ErrRefused
		}
		return nil
	}}
	return d.DialContext(ctx, network, address)
}
