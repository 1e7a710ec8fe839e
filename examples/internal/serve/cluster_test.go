package serve

import (
	"io"
	"net"
	"strings"
	"testing"
)

func TestDefaultAdvertise(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}
	for _, c := range []struct {
		addr string
		tls  bool
		want string
	}{
		{":8081", false, "http://127.0.0.1:8081"},
		{"0.0.0.0:8081", false, "http://127.0.0.1:8081"},
		{"[::]:8081", false, "http://127.0.0.1:8081"},
		{"127.0.0.1:0", false, "http://127.0.0.1:8081"}, // the port the listener got
		{"localhost:8081", true, "https://127.0.0.1:8081"},
		{"[::1]:8081", false, "http://[::1]:8081"},
		{"10.0.0.5:8081", false, "http://10.0.0.5:8081"},
		{"node1.internal:8081", true, "https://node1.internal:8081"},
	} {
		if got := DefaultAdvertise(c.addr, bound, c.tls); got != c.want {
			t.Errorf("DefaultAdvertise(%q, tls %v) = %q, want %q", c.addr, c.tls, got, c.want)
		}
	}
}

func TestClusterFlagsRefuse(t *testing.T) {
	f := Flags{Addr: "127.0.0.1:0"}
	for _, c := range []struct {
		flags ClusterFlags
		want  string
	}{
		{ClusterFlags{Redis: "redis://127.0.0.1:1/0", NATS: "nats://127.0.0.1:1"}, "exclude each other"},
		{ClusterFlags{Advertise: "http://127.0.0.1:8081"}, "needs -redis or -nats"},
		{ClusterFlags{Redis: "redis://127.0.0.1:1/0", Advertise: "http://127.0.0.1:8081/rt"}, "no path"},
		{ClusterFlags{Redis: "redis://127.0.0.1:1/0", Advertise: "127.0.0.1:8081"}, "scheme://host:port"},
		{ClusterFlags{Redis: "redis://127.0.0.1:1/0", Advertise: "ftp://127.0.0.1:8081"}, "scheme://host:port"},
	} {
		n, err := c.flags.Node(f, nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.flags, err, c.want)
		}
		if n.Listener != nil {
			n.Listener.Close()
			t.Errorf("%+v: a listener left open on refusal", c.flags)
		}
	}
	n, err := (&ClusterFlags{}).Node(f, nil, io.Discard)
	if err != nil || n.Adapter != nil || n.Listener != nil || n.Advertise != "" {
		t.Errorf("no cluster flags: %+v, %v; want a zero Node", n, err)
	}
}
