package serve

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/nats"
	"github.com/sockhop/sockhop/rooms/redis"
)

// ClusterFlags are the flags that make an example one node of a cluster
// (docs/scaling.md): -redis or -nats names the broker the nodes share, -advertise the URL
// at which the other nodes reach this one.
type ClusterFlags struct {
	Redis     string
	NATS      string
	Advertise string
}

// Register defines -redis, -nats and -advertise on fs.
func (c *ClusterFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Redis, "redis", "", "run as one node of a cluster sharing rooms through this Redis (redis://host:6379/0)")
	fs.StringVar(&c.NATS, "nats", "", "run as one node of a cluster sharing rooms through this NATS (nats://host:4222); excludes -redis")
	fs.StringVar(&c.Advertise, "advertise", "", "with -redis or -nats: the base URL the other nodes reach this one at (http://10.0.0.5:8080); default http://127.0.0.1:<port of -addr> when -addr is on every interface or on loopback, else http://<-addr>")
}

// Enabled reports whether the flags ask for a cluster.
func (c *ClusterFlags) Enabled() bool { return c.Redis != "" || c.NATS != "" }

// Node is what an example needs to run as a node: the Adapter and Advertise of
// sockhop.Options, and the listener, opened before the server is made so that Advertise
// knows the port of "-addr host:0". All are zero without -redis and -nats.
type Node struct {
	Adapter   rooms.Adapter
	Advertise string
	Listener  net.Listener // for Config.Listener
}

// Node checks the flags, opens the listener of f and makes the adapter. It prints where
// the node advertises itself to stdout. Without -redis and -nats it returns a zero Node.
func (c *ClusterFlags) Node(f Flags, logger *slog.Logger, stdout io.Writer) (Node, error) {
	if c.Redis != "" && c.NATS != "" {
		return Node{}, errors.New("-redis and -nats exclude each other: a cluster has one broker")
	}
	if !c.Enabled() {
		if c.Advertise != "" {
			return Node{}, errors.New("-advertise needs -redis or -nats")
		}
		return Node{}, nil
	}
	ln, err := net.Listen("tcp", f.Addr)
	if err != nil {
		return Node{}, err
	}
	adv := c.Advertise
	if adv == "" {
		adv = DefaultAdvertise(f.Addr, ln.Addr(), f.TLS())
	} else if err := checkAdvertise(adv); err != nil {
		ln.Close()
		return Node{}, err
	}
	var a rooms.Adapter
	broker := c.Redis
	if c.Redis != "" {
		a, err = redis.New(redis.Options{URL: c.Redis, Logger: logger})
	} else {
		broker = c.NATS
		a, err = nats.New(nats.Options{URL: c.NATS, Logger: logger})
	}
	if err != nil {
		ln.Close()
		return Node{}, err
	}
	fmt.Fprintf(stdout, "cluster node over %s, advertising %s to the other nodes\n", redactURL(broker), adv)
	return Node{Adapter: a, Advertise: adv, Listener: ln}, nil
}

// DefaultAdvertise is the -advertise of a node that listens at bound (asked for as addr):
// http(s)://127.0.0.1:port when it listens on every interface or on loopback (the nodes
// share one host), else http(s)://host:port of addr.
func DefaultAdvertise(addr string, bound net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	port := ""
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "localhost" {
		return scheme + "://127.0.0.1:" + port
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
		if ip.To4() == nil && ip.IsLoopback() {
			return scheme + "://[::1]:" + port
		}
		return scheme + "://127.0.0.1:" + port
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// checkAdvertise accepts a base URL: http or https, a host and a port, no path.
func checkAdvertise(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("-advertise %q: want scheme://host:port with no path (http://10.0.0.5:8080)", s)
	}
	return nil
}

// redactURL hides a password in a broker URL for the startup line.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(the broker)"
	}
	return u.Redacted()
}
