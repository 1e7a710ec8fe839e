package proxytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// mount is where the app mounts sockhop, behind every proxy.
const mount = "/rt"

// pkgDir is this package's directory; the module root is two levels up.
func pkgDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func repoRoot() string { return filepath.Join(pkgDir(), "..", "..") }

// need skips t (fails it with CI=true) unless every named program is installed, and
// returns their paths. "browser" stands for what package browser requires.
func need(t testing.TB, names ...string) map[string]string {
	t.Helper()
	testutil.ExternalDep(t, strings.Join(names, " and "))
	paths := map[string]string{}
	var missing []string
	look := func(name, hint string) {
		p, err := exec.LookPath(name)
		if err != nil {
			// /usr/sbin is not on every PATH.
			if _, serr := os.Stat(filepath.Join("/usr/sbin", name)); serr == nil {
				p, err = filepath.Join("/usr/sbin", name), nil
			}
		}
		if err != nil {
			missing = append(missing, hint)
			return
		}
		paths[name] = p
	}
	for _, n := range names {
		switch n {
		case "browser":
			browser.Require(t)
		case "nginx":
			look("nginx", "nginx (apt-get install nginx)")
		case "apache2":
			look("apache2", "apache2 (apt-get install apache2)")
		}
	}
	if len(missing) > 0 {
		testutil.MissingDep(t, "proxy tests need "+strings.Join(missing, ", ")+"; bash .ci/install-deps.sh installs them")
	}
	return paths
}

// syncBuffer collects a child's output for the test's messages.
type syncBuffer = testutil.SyncBuffer

// process is a child of the test, stopped by its PID when the test ends.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    syncBuffer
	exited chan struct{}
}

// start runs a program in the foreground as a child of the test. It is stopped with TERM,
// then KILL after a grace period, when t ends.
func start(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(args[0], args[1:]...), exited: make(chan struct{})}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.WaitDelay = 5 * time.Second // a worker that outlives its parent must not hold Wait by the output pipe
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitListening waits until addr accepts TCP connections, or fails t (with the process's
// output and log file) when p exits or time is up.
func (p *process) waitListening(t testing.TB, addr, logFile string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited before listening on %s:\n%s\n%s", p.name, addr, p.out.String(), log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s does not listen on %s after 10s:\n%s\n%s", p.name, addr, p.out.String(), log)
		}
	}
}

// check runs a config test (nginx -t, apache2 -t) and fails t with its output when it fails.
func check(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// backend is the application under test: a sockhop server mounted at /rt with an echo
// handler and a broadcast to everyone, on a loopback port of its own.
type backend struct {
	addr string
	srv  *sockhop.Server
}

func startBackend(t testing.TB, opts sockhop.Options) *backend {
	t.Helper()
	if opts.SockJSDisconnectDelay == 0 {
		opts.SockJSDisconnectDelay = time.Second // let fallback sessions end soon after the page
	}
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "everyone") })
	sockhop.OnRequest(srv, "echo", func(_ context.Context, _ *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
		return v, nil
	})
	sockhop.OnRequest(srv, "say", func(ctx context.Context, s *sockhop.Session, text string) (string, error) {
		return s.ID(), srv.To("everyone").Emit(ctx, "said", text)
	})
	mux := http.NewServeMux()
	mux.Handle(mount+"/", srv)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("sockhop proxy test backend\n"))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("sockhop shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		<-done
	})
	return &backend{addr: l.Addr().String(), srv: srv}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and returns their
// paths and the base64 SHA-256 of the key's SPKI, which Chromium trusts with
// --ignore-certificate-errors-spki-list.
func selfSigned(t testing.TB, dir string) (certFile, keyFile, spki string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pub)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, base64.StdEncoding.EncodeToString(sum[:])
}

// openDoctor starts Chromium (with args added to the usual flags) and loads the connectivity
// doctor, <mount>/diag, through px, waiting until its report is there.
func openDoctor(t testing.TB, px *proxyServer, args ...string) *browser.Page {
	t.Helper()
	p := browser.Start(t, args...).Open(t, "doctor", px.url+mount+"/diag", browser.Viewport{Width: 1100, Height: 900})
	p.WaitWithin(time.Minute, "window.sockhopDiag")
	return p
}
