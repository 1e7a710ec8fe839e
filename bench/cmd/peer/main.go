// Command peer is one benchmark server: the same small protocol (join a room, echo with
// reply, broadcast m messages of s bytes to a room) on sockhop, a plain gorilla/websocket
// hub, igm/sockjs-go v3 on chi, or Centrifuge. The Socket.IO peer is ../../socketio.
//
// It listens on -addr (port 0 picks one) and prints "READY <host:port>" on stdout once it
// accepts connections; SIGTERM stops it.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/sockhop/sockhop/bench/internal/nofile"
)

// bcastReq is the data of the "bcast" request on every peer.
type bcastReq struct {
	Room string `json:"room"`
	M    int    `json:"m"`
	S    int    `json:"s"`
}

// payload returns the s-byte string every peer broadcasts.
func payload(s int) string { return strings.Repeat("x", max(s, 0)) }

func main() {
	kind := flag.String("kind", "sockhop", "server: sockhop, sockhop-metrics (with Prometheus metrics), gorilla (sockhop's JSON wire format), gorilla-raw (raw text frames, no JSON), sockjs or centrifuge")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	redisAddr := flag.String("redis", "", "sockhop only: Redis host:port for the multi-node adapter")
	natsAddr := flag.String("nats", "", "sockhop only: NATS host:port for the multi-node adapter")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	minFiles := flag.Uint64("nofile", 0, "fail unless the open-file limit (RLIMIT_NOFILE) can be raised to at least this")
	versions := flag.Bool("versions", false, "print the versions of the peer libraries and exit")
	flag.Parse()
	if *versions {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				switch d.Path {
				case "github.com/gorilla/websocket", "github.com/igm/sockjs-go/v3", "github.com/centrifugal/centrifuge", "github.com/go-chi/chi/v5", "github.com/redis/go-redis/v9", "github.com/nats-io/nats.go":
					fmt.Println(d.Path, d.Version)
				}
			}
		}
		return
	}

	if err := nofile.Raise(*minFiles, " or run fewer connections"); err != nil {
		log.Fatal(err)
	}
	var h http.Handler
	var err error
	switch *kind {
	case "sockhop":
		h, err = newSockhop(*redisAddr, *natsAddr, false)
	case "sockhop-metrics":
		h, err = newSockhop(*redisAddr, *natsAddr, true)
	case "gorilla":
		h = newGorilla()
	case "gorilla-raw":
		h = newGorillaRaw()
	case "sockjs":
		h = newSockJS()
	case "centrifuge":
		h, err = newCentrifuge()
	default:
		err = fmt.Errorf("unknown -kind %q", *kind)
	}
	if err != nil {
		log.Fatal(err)
	}
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, http.DefaultServeMux)) }()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("READY %s\n", ln.Addr())
	hs := &http.Server{Handler: h}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, os.Interrupt)
		<-c
		os.Exit(0)
	}()
	log.Fatal(hs.Serve(ln))
}
