// Package serve is the HTTP plumbing the sockhop examples share: the -addr and TLS flags,
// an in-memory self-signed certificate for development, an http.Server with slowloris
// timeouts, and graceful shutdown (sockhop first, then HTTP).
package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sockhop/sockhop"
)

// Flags are the listening flags every example takes.
type Flags struct {
	Addr       string
	TLSCert    string
	TLSKey     string
	SelfSigned bool
	Hosts      string
	AllowHosts string
}

// Register defines -addr, -tls-cert, -tls-key, -tls-self-signed, -tls-hosts and
// -allow-host on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (needs -tls-key)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.BoolVar(&f.SelfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made in memory (development only)")
	fs.StringVar(&f.Hosts, "tls-hosts", "localhost,127.0.0.1", "comma-separated host names and IPs of the -tls-self-signed certificate")
	fs.StringVar(&f.AllowHosts, "allow-host", "", "comma-separated Host names sockhop answers, 403 for any other (sockhop.Options.AllowedHosts, against DNS rebinding): a name allows any port, name:port that one; empty answers any Host")
}

// AllowedHosts returns -allow-host as a list, for sockhop.Options.AllowedHosts (nil
// when empty: any Host).
func (f *Flags) AllowedHosts() []string { return splitHosts(f.AllowHosts) }

// TLS reports whether the flags ask for HTTPS.
func (f *Flags) TLS() bool { return f.SelfSigned || f.TLSCert != "" }

// Info describes a listening example, for the Ready callback.
type Info struct {
	// URL is the base URL of the site, "http://127.0.0.1:8080" (no trailing slash).
	URL string
	// Cert is the serving certificate when TLS is on, nil otherwise.
	Cert *x509.Certificate
}

// Config is what Run serves.
type Config struct {
	Name    string          // the example's name, prefixes log lines ("chat")
	Flags   Flags           // where and how to listen
	Handler http.Handler    // the whole site
	Sockhop *sockhop.Server // shut down before the HTTP server
	Stdout  io.Writer       // where the startup lines go
	// Ready, when set, is called once the listener is open.
	Ready func(Info)
	// Listener, when set, is where to serve (open already: a cluster node opens it
	// before it makes its server, to advertise its port; see ClusterFlags.Node) instead
	// of listening at Flags.Addr.
	Listener net.Listener
}

// Run listens and serves c.Handler until ctx ends, then shuts sockhop down (clients are
// told to reconnect elsewhere) and the HTTP server after it, each within 5 seconds.
func Run(ctx context.Context, c Config) (err error) {
	if c.Listener != nil {
		defer func() {
			if err != nil {
				_ = c.Listener.Close() // a no-op once the server has closed it
			}
		}()
	}
	if (c.Flags.TLSCert == "") != (c.Flags.TLSKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if c.Flags.SelfSigned && c.Flags.TLSCert != "" {
		return errors.New("-tls-self-signed and -tls-cert exclude each other")
	}
	var tlsConf *tls.Config
	var leaf *x509.Certificate
	switch {
	case c.Flags.SelfSigned:
		cert, err := SelfSigned(splitHosts(c.Flags.Hosts))
		if err != nil {
			return err
		}
		leaf = cert.Leaf
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		PrintTrust(c.Stdout, leaf, c.Flags.Addr)
	case c.Flags.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(c.Flags.TLSCert, c.Flags.TLSKey)
		if err != nil {
			return fmt.Errorf("loading -tls-cert: %w", err)
		}
		leaf = cert.Leaf
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	ln := c.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.Flags.Addr); err != nil {
			return err
		}
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConf)
	}
	base := scheme + "://" + ln.Addr().String()
	hs := &http.Server{
		Handler:           c.Handler,
		ReadHeaderTimeout: 10 * time.Second, // slowloris
		ReadTimeout:       30 * time.Second, // request bodies (xhr_send) are small
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(c.Stdout, c.Name+": http: ", 0),
		// No WriteTimeout: it would cut xhr-streaming responses; sockhop bounds its own writes.
	}
	fmt.Fprintf(c.Stdout, "%s: listening on %s/\n", c.Name, base)
	if c.Ready != nil {
		c.Ready(Info{URL: base, Cert: leaf})
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		_ = c.Sockhop.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Hijacked WebSockets are not http.Server's to close: sockhop first. At the deadline
	// both close what is left, which is the point of a deadline, not an error.
	if err := c.Sockhop.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(c.Stdout, "%s: closed the sessions left after 5s\n", c.Name)
	} else if err != nil {
		return err
	}
	if err := hs.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		_ = hs.Close()
	} else if err != nil {
		return err
	}
	<-errc
	fmt.Fprintf(c.Stdout, "%s: stopped\n", c.Name)
	return nil
}

func splitHosts(s string) []string {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// SockhopURL returns the URL of the sockhop mount under base.
func SockhopURL(base string) string { return base + "/rt" }
