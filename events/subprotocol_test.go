package events

import "testing"

func TestHelloProtocol(t *testing.T) {
	for _, tc := range []struct {
		bin  bool
		ping int64
		want string
	}{
		{false, 0, "sockhop.v1.hello"},
		{true, 0, "sockhop.v1.hello.bin"},
		{true, 25000, "sockhop.v1.hello.bin.ping25000"},
		{false, 1, "sockhop.v1.hello.ping1"},
		{false, -5, "sockhop.v1.hello"},
		{false, 1_000_000_000, "sockhop.v1.hello"}, // past nine digits: left out
	} {
		p := HelloProtocol(tc.bin, tc.ping)
		if p != tc.want {
			t.Errorf("HelloProtocol(%v, %d) = %q, want %q", tc.bin, tc.ping, p, tc.want)
			continue
		}
		m, ok := ParseHelloProtocol(p)
		wantPing := tc.ping
		if wantPing < 0 || wantPing > maxHelloPing {
			wantPing = 0
		}
		if !ok || m.T != TypeHello || m.V != Version || (m.Bin == 1) != tc.bin || m.Ping != wantPing {
			t.Errorf("ParseHelloProtocol(%q) = %+v, %v", p, m, ok)
		}
	}
}

func TestParseHelloProtocolRefuses(t *testing.T) {
	for _, p := range []string{"", "sockhop.v1", "sockhop.v2.hello", "sockhop.v1.hellox",
		"sockhop.v1.hello.", "sockhop.v1.hello.ping", "sockhop.v1.hello.ping0", "sockhop.v1.hello.ping012",
		"sockhop.v1.hello.ping-5", "sockhop.v1.hello.ping1234567890", "sockhop.v1.hello.ping5.bin",
		"sockhop.v1.hello.bin.bin", "sockhop.v1.hello.ping5x", "SOCKHOP.V1.HELLO"} {
		if m, ok := ParseHelloProtocol(p); ok {
			t.Errorf("ParseHelloProtocol(%q) = %+v, true; want false", p, m)
		}
	}
}
