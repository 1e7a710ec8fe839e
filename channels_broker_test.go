package sockhop_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
)

// TestVolatileAcrossNodesRedis: checkVolatileStalled with the broadcasts made on one node
// and the stalled client on another, through a real redis-server.
func TestVolatileAcrossNodesRedis(t *testing.T) {
	t.Parallel()
	volatileAcrossNodes(t, redisAdapters(t))
}

// TestVolatileAcrossNodesNATS is TestVolatileAcrossNodesRedis through a real nats-server.
func TestVolatileAcrossNodesNATS(t *testing.T) {
	t.Parallel()
	volatileAcrossNodes(t, natsAdapters(t, testutil.StartNATS(t)))
}

func volatileAcrossNodes(t *testing.T, mk func(prefix string) rooms.Adapter) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		prefix := "vol" + strings.ReplaceAll(tr, "-", "")
		opts := sockhop.Options{MaxQueueBytes: 16 << 20, MessageRate: -1}
		a, _ := clusterNode(t, mk(prefix), opts)
		hs := httptest.NewUnstartedServer(nil)
		hs.Listener = smallSendBuffers{hs.Listener}
		b, urlB := clusterNodeOn(t, mk(prefix), opts, hs)
		waitCluster(t, []*sockhop.Server{a, b})
		a.Channel("cursor", sockhop.Channel{Class: sockhop.Volatile}) // the class is the sender's
		c := dialClient(t, urlB, tr, client.Options{})
		for _, room := range []string{"chat", "cursor"} {
			request(t, c, "join", room)
		}
		checkVolatileStalled(t, c, a.To("chat").Emit, func(int) emitFunc { return a.To("cursor").Emit })
	})
}
