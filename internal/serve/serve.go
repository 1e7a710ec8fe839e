// Package serve is the HTTP plumbing the sockhop examples and cmd/sockhop share: the -addr
// and TLS flags, an in-memory self-signed certificate for development, an http.Server with
// slowloris timeouts, and graceful shutdown (sockhop first, then HTTP). The examples also
// take its cluster flags and test helpers.
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
	"log/slog"
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
	// AllowOrigins is -allow-origin: comma-separated origins or host patterns, as
	// sockhop.Options.AllowedOrigins takes them.
	AllowOrigins string
}

// Register defines -addr, -tls-cert, -tls-key, -tls-self-signed, -tls-hosts, -allow-host
// and -allow-origin on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:8080", "listen address (host:port); \":8080\" for every interface")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (needs -tls-key)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.BoolVar(&f.SelfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made in memory (development only)")
	fs.StringVar(&f.Hosts, "tls-hosts", "localhost,127.0.0.1", "comma-separated host names and IPs of the -tls-self-signed certificate")
	fs.StringVar(&f.AllowHosts, "allow-host", "", "comma-separated Host names answered, 403 for any other (against DNS rebinding): a name allows any port, name:port that one; empty answers any Host")
	fs.StringVar(&f.AllowOrigins, "allow-origin", "", "comma-separated browser origins allowed besides the server's own, as full origins (https://app.example) or host patterns (app.example, *.example.com): for a proxy that rewrites Host; empty allows the same origin only")
}

// AllowedOrigins returns -allow-origin as a list, for sockhop.Options.AllowedOrigins (nil
// when empty: the same origin only).
func (f *Flags) AllowedOrigins() []string { return SplitList(f.AllowOrigins) }

// Options returns an options hook that sets what these flags decide in sockhop.Options
// (AllowedOrigins, from -allow-origin) and then calls more, when not nil. sockhop.New
// refuses a malformed entry with an error naming it.
func (f *Flags) Options(more func(*sockhop.Options)) func(*sockhop.Options) {
	origins := f.AllowedOrigins()
	return func(o *sockhop.Options) {
		if len(origins) > 0 {
			o.AllowedOrigins = origins
		}
		if more != nil {
			more(o)
		}
	}
}

// AllowedHosts returns -allow-host as a list, for sockhop.Options.AllowedHosts (nil
// when empty: any Host).
func (f *Flags) AllowedHosts() []string { return SplitList(f.AllowHosts) }

// Check reports flags that contradict each other; Run checks them too.
func (f *Flags) Check() error {
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if f.SelfSigned && f.TLSCert != "" {
		return errors.New("-tls-self-signed and -tls-cert exclude each other")
	}
	return nil
}

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
	Name    string          // prefixes the output lines ("chat: listening on ...")
	Flags   Flags           // where and how to listen
	Handler http.Handler    // the whole site
	Sockhop *sockhop.Server // shut down before the HTTP server (unless Shutdown is set)
	Stdout  io.Writer       // where the startup lines go
	// Stderr, when set, is where the HTTP server's error log goes; nil means Stdout.
	Stderr io.Writer
	// Shutdown, when set, is called instead of Sockhop.Shutdown, before the HTTP server
	// shuts down: for a server that has more to stop than its sessions.
	Shutdown func(context.Context) error
	// Logger, when set, gets the shutdown messages (a Warn when Shutdown overran its 5
	// seconds, an Info when stopped) instead of lines on Stdout.
	Logger *slog.Logger
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
	if err := c.Flags.Check(); err != nil {
		return err
	}
	shutdown := c.Shutdown
	if shutdown == nil {
		shutdown = c.Sockhop.Shutdown
	}
	stderr := c.Stderr
	if stderr == nil {
		stderr = c.Stdout
	}
	var tlsConf *tls.Config
	var leaf *x509.Certificate
	switch {
	case c.Flags.SelfSigned:
		cert, err := SelfSigned(SplitList(c.Flags.Hosts))
		if err != nil {
			return err
		}
		leaf = cert.Leaf
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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
		ErrorLog:          log.New(stderr, c.Name+": http: ", 0),
		// No WriteTimeout: it would cut xhr-streaming responses; sockhop bounds its own writes.
	}
	if c.Flags.SelfSigned {
		PrintTrust(c.Stdout, c.Name, leaf, ln.Addr().String())
	}
	fmt.Fprintf(c.Stdout, "%s: listening on %s/\n", c.Name, base)
	if c.Ready != nil {
		c.Ready(Info{URL: base, Cert: leaf})
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		_ = shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Hijacked WebSockets are not http.Server's to close: sockhop first. At the deadline
	// both close what is left, which is the point of a deadline, not an error.
	if err := shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		if c.Logger != nil {
			c.Logger.Warn("shutdown: not done after 5s, closed what was left")
		} else {
			fmt.Fprintf(c.Stdout, "%s: closed the sessions left after 5s\n", c.Name)
		}
	} else if err != nil {
		return err
	}
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	<-errc
	if c.Logger != nil {
		c.Logger.Info("stopped")
	} else {
		fmt.Fprintf(c.Stdout, "%s: stopped\n", c.Name)
	}
	return nil
}

// SplitList splits a comma-separated flag value, dropping spaces and empty items (nil when
// there are none).
func SplitList(s string) []string {
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
