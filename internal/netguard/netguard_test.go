package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestAllowed(t *testing.T) {
	def, err := Parse(LANNetworks)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := Parse("0.0.0.0/0,::/0")
	lo, _ := Parse("127.0.0.0/8")
	for _, tc := range []struct {
		p    Policy
		addr string
		want bool
	}{
		{def, "192.168.1.20", true},
		{def, "10.1.2.3", true},
		{def, "fd00::5", true},
		{def, "8.8.8.8", false},
		{def, "127.0.0.1", false},
		{def, "::1", false},
		{def, "169.254.169.254", false},
		{def, "::ffff:127.0.0.1", false},
		{def, "0.0.0.0", false},
		{all, "8.8.8.8", true},
		{all, "127.0.0.1", false},
		{all, "169.254.169.254", false},
		{all, "224.0.0.1", false},
		{all, "::ffff:169.254.169.254", false},
		{lo, "127.0.0.1", true},
		{lo, "192.168.1.1", false},
		{Policy{}, "192.168.1.1", false},
	} {
		if got := tc.p.Allowed(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s allows %s: %v, want %v", tc.p, tc.addr, got, tc.want)
		}
	}
	if _, err := Parse("10.0.0.0/8, nonsense"); err == nil {
		t.Fatal("a bad prefix parsed")
	}
}

// TestDial: the dialer refuses a refused address even when a name
// resolves to it, and connects to an allowed one.
func TestDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	def, _ := Parse(LANNetworks)
	ctx := context.Background()
	for _, addr := range []string{l.Addr().String(), net.JoinHostPort("localhost", port)} {
		if c, err := def.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			t.Fatalf("dialled %s under the default policy", addr)
		} else if !errors.Is(err, ErrRefused) {
			t.Fatalf("dial %s: %v, want ErrRefused", addr, err)
		}
	}
	if err := def.CheckHost(ctx, "localhost"); err == nil {
		t.Fatal("localhost passed the default policy")
	}
	lo, _ := Parse("127.0.0.0/8,::1/128")
	c, err := lo.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial an allowed address: %v", err)
	}
	c.Close()
	if err := lo.CheckHost(ctx, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(LANNetworks)
	f.Add("127.0.0.1/32,::1/128")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		q, err := Parse(p.String())
		if err != nil || q.String() != p.String() {
			t.Fatalf("%q → %q does not parse back", s, p.String())
		}
	})
}
