package sockhop_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

// TestResumeAcrossSwitches is TestResumeUnderCuts with transport changes: clients with a
// two-transport ladder receive a stream of numbered messages and make acked emits while a
// proxy cuts their connections every 0.2–2 s and a gate refuses the better transport for
// 0.2–0.8 s at a time, then lets it through again. So sessions resume onto the other
// transport after cuts (down the ladder while the better one is refused, up when it works
// again) and move up through background upgrades. Half the clients get the stream as binary
// messages. Every ordered pair of transports is
// covered, both ways; every message arrives exactly once and in order, every emit gets
// exactly one reply, and the server handles no emit twice.
func TestResumeAcrossSwitches(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real time): make test runs it (gotest at its -race size, gofull at full size); make check (-short) does not")
	}
	t.Parallel()
	clients, m, emits, every := 16, 2000, 300, 3*time.Millisecond
	if raceEnabled {
		// The full size runs without the race detector in make gofull. Slower, so that
		// each client lives through several refusals and cuts (about 5 s).
		clients, m, emits, every = 4, 600, 100, 8*time.Millisecond
	}
	pairs := [][2]string{
		{client.WebSocket, client.XHRStreaming},
		{client.WebSocket, client.XHRPolling},
		{client.XHRStreaming, client.XHRPolling},
	}
	for _, pair := range pairs {
		up, down := pair[0], pair[1]
		t.Run(up+"-and-"+down, func(t *testing.T) {
			t.Parallel()
			g, wrap := newGate()
			ss, hs := newStreamServer(t, sockhop.Options{MaxQueueBytes: 4 << 20, MessageRate: -1, ConnectRate: -1, Logger: testLogger()}, wrap)
			defer g.close()
			proxy, err := faultproxy.New(strings.TrimPrefix(hs.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			proxy.RandomCuts(200*time.Millisecond, 2*time.Second)
			url := "http://" + proxy.Addr()

			stop := make(chan struct{})
			var toggles sync.WaitGroup
			toggles.Go(func() { // the better transport refused, then not, and so on
				refused := false
				for {
					select {
					case <-stop:
						g.set(up, gateOpen)
						return
					case <-time.After(200*time.Millisecond + rand.N(600*time.Millisecond)):
					}
					refused = !refused
					if refused {
						g.set(up, gateRefuse)
					} else {
						g.set(up, gateOpen)
					}
				}
			})

			var mu sync.Mutex
			switches := map[string]int{} // "from>to" -> count, resumes and upgrades
			upgrades := 0
			var failures, resumeFailed atomic.Int64
			fail := func(format string, args ...any) {
				if failures.Add(1) <= 5 {
					t.Errorf(format, args...)
				}
			}
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					var c *client.Client
					var tf *traffic
					var err error
					for try := 0; try < 5; try++ { // a cut or a refusal may end the first connect
						c, tf = newSwitchClient(url, up, down, m, &mu, switches, &upgrades, &resumeFailed)
						if err = c.Connect(ctx); err == nil {
							break
						}
					}
					if err != nil {
						fail("client %d: first connect: %v", i, err)
						return
					}
					defer c.Close()
					if err := tf.run(ctx, c, emits, every, i%2 == 1); err != nil { // odd clients get bytes
						fail("client %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			close(stop)
			toggles.Wait()
			accepted, cuts := proxy.Stats()
			ss.mu.Lock()
			dups := slices.Clone(ss.dups)
			ss.mu.Unlock()
			if len(dups) > 0 {
				t.Errorf("the server handled %d emits twice: %v", len(dups), dups[:min(5, len(dups))])
			}
			if n := resumeFailed.Load(); n > 0 {
				t.Errorf("%d resumes failed", n)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, dir := range []string{up + ">" + down, down + ">" + up} {
				if switches[dir] == 0 {
					t.Errorf("no session resumed %s: the test did not test that switch (switches %v)", dir, switches)
				}
			}
			t.Logf("%s/%s: %d clients × %d messages + %d acked emits, %d connections cut of %d; lost 0, duplicated 0; switches %v (%d of them background upgrades or live downgrades, the rest resumes after cuts)",
				up, down, clients, m, emits, cuts, accepted, switches, upgrades)
		})
	}
}

// newSwitchClient makes a client of TestResumeAcrossSwitches, counting its transport
// switches in switches (under mu).
func newSwitchClient(url, up, down string, m int, mu *sync.Mutex, switches map[string]int, upgrades *int, resumeFailed *atomic.Int64) (*client.Client, *traffic) {
	c := client.New(url, client.Options{
		Transports: []string{up, down}, MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		AckTimeout: 2 * time.Minute, UpgradeDelay: 100 * time.Millisecond, Logger: testLogger(),
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	})
	c.OnResumeFailed(func() { resumeFailed.Add(1) })
	prev := "" // the client's goroutine runs OnConnect and OnTransportChange
	c.OnConnect(func() {
		cur := c.Transport()
		if prev != "" && cur != prev {
			mu.Lock()
			switches[prev+">"+cur]++
			mu.Unlock()
		}
		prev = cur
	})
	c.OnTransportChange(func(from, to string) {
		mu.Lock()
		switches[from+">"+to]++
		*upgrades++
		mu.Unlock()
		prev = to
	})
	return c, newTraffic(c, m)
}
