package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// listenFlags are the listening flags, the same as the examples'.
type listenFlags struct {
	addr       string
	tlsCert    string
	tlsKey     string
	selfSigned bool
	tlsHosts   string
	allowHosts string
}

func (f *listenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (host:port); \":8080\" for every interface")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (needs -tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.BoolVar(&f.selfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made in memory (development only)")
	fs.StringVar(&f.tlsHosts, "tls-hosts", "localhost,127.0.0.1", "comma-separated host names and IPs of the -tls-self-signed certificate")
	fs.StringVar(&f.allowHosts, "allow-host", "", "comma-separated Host names answered, 403 for any other (against DNS rebinding): a name allows any port, name:port that one; empty answers any Host")
}

func (f *listenFlags) check() error {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if f.selfSigned && f.tlsCert != "" {
		return errors.New("-tls-self-signed and -tls-cert exclude each other")
	}
	return nil
}

// listening describes a listening server, for env.ready.
type listening struct {
	URL  string            // "http://127.0.0.1:8080", no trailing slash
	Cert *x509.Certificate // the serving certificate with TLS, else nil
}

// serve listens as f says and serves h until ctx ends; then it calls shutdown (sockhop
// and the programs) and shuts the HTTP server down, each within 5 seconds.
func serve(ctx context.Context, f *listenFlags, h http.Handler, shutdown func(context.Context) error, logger *slog.Logger, e *env) error {
	var tlsConf *tls.Config
	var leaf *x509.Certificate
	switch {
	case f.selfSigned:
		cert, err := selfSigned(splitList(f.tlsHosts))
		if err != nil {
			return err
		}
		leaf = cert.Leaf
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case f.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("loading -tls-cert: %w", err)
		}
		leaf = cert.Leaf
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConf)
	}
	base := scheme + "://" + ln.Addr().String()
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second, // slowloris
		ReadTimeout:       30 * time.Second, // request bodies (xhr_send) are small
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(e.stderr, "sockhop: http: ", 0),
		// No WriteTimeout: it would cut xhr-streaming responses; sockhop bounds its own writes.
	}
	if f.selfSigned {
		printTrust(e, leaf, ln.Addr().String())
	}
	fmt.Fprintf(e.stdout, "sockhop: listening on %s/\n", base)
	if e.ready != nil {
		e.ready(listening{URL: base, Cert: leaf})
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
	if err := shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("shutdown: sessions or programs left after 5s")
	} else if err != nil {
		return err
	}
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	<-errc
	logger.Info("stopped")
	return nil
}

// selfSigned makes an ECDSA P-256 certificate for hosts, valid for 30 days, in memory.
func selfSigned(hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("-tls-hosts is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"sockhop exec (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// spkiHash is the base64 SHA-256 of the certificate's public key, what Chromium's
// --ignore-certificate-errors-spki-list and curl's --pinnedpubkey take.
func spkiHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// printTrust tells the user how to trust the self-signed certificate.
func printTrust(e *env, cert *x509.Certificate, addr string) {
	sum := sha256.Sum256(cert.Raw)
	fp := make([]string, len(sum))
	for i, b := range sum {
		fp[i] = fmt.Sprintf("%02X", b)
	}
	host := addr
	if h, p, err := net.SplitHostPort(addr); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	spki := spkiHash(cert)
	fmt.Fprintf(e.stdout, `sockhop: self-signed certificate (in memory, new on every start)
  SHA-256 fingerprint: %s
  trust it in Chromium: chromium --ignore-certificate-errors-spki-list=%s https://%s/
  trust it in curl:     curl --insecure --pinnedpubkey 'sha256//%s' https://%s/
`, strings.Join(fp, ":"), spki, host, spki, host)
}
