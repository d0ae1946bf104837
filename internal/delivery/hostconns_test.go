package delivery

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

// connCounter counts a server's open connections and their high-water mark.
type connCounter struct {
	mu         sync.Mutex
	open, most int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
		c.most = max(c.most, c.open)
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

func TestHostConnectionsCapTheConnectionsToOneHost(t *testing.T) {
	t.Parallel()
	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = conns.track
	srv.Start()
	t.Cleanup(srv.Close)

	// Four endpoints on one host, each allowed four sends at once: sixteen
	// sends would be in flight, over two connections.
	var eps []herald.Endpoint
	for i := range 4 {
		eps = append(eps, endpoint(fmt.Sprintf("ep_%d", i), fmt.Sprintf("%s/%d", srv.URL, i)))
	}
	b := setup(t, Config{Workers: 16, EndpointConcurrency: 4, HostConnections: 2}, eps...)
	var msgs []*herald.Message
	for range 40 {
		msgs = append(msgs, b.publish(t, message("a", `{}`)))
	}
	for _, m := range msgs {
		for _, ep := range eps {
			res := b.waitFinal(t, m.ID, ep.ID)
			if got := res[len(res)-1].Outcome.Status; got != herald.StatusSuccess {
				t.Fatalf("%s to %s: %v, want success", m.ID, ep.ID, got)
			}
		}
	}
	conns.mu.Lock()
	defer conns.mu.Unlock()
	if conns.most > 2 {
		t.Errorf("%d connections open at once to one host, want at most 2", conns.most)
	}
}
