package delivery

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

// TestWaitingForAConnectionIsNotTheEndpointsTime queues three sends for a
// host's one connection; each is answered 600 ms after it arrives. The last
// waits 1.2 s for the connection, longer than the 1 s timeout, and must
// still succeed: the timeout is the endpoint's, from the connection on.
// Each attempt's duration must leave the wait out too: a send gets the
// connection only once the request before it was answered, so its duration
// cannot be longer than from that answer to its own return.
func TestWaitingForAConnectionIsNotTheEndpointsTime(t *testing.T) {
	t.Parallel()
	type arrival struct {
		msgID  string
		answer chan struct{}
	}
	arrived := make(chan arrival)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := make(chan struct{})
		arrived <- arrival{r.Header.Get("Webhook-Id"), answer}
		<-answer
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	cfg, err := Config{Store: newMemStore(), Timeout: time.Second, HostConnections: 1, AllowNetworks: loopback}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(cfg)
	t.Cleanup(s.close)

	type result struct {
		msgID    string
		resp     response
		returned time.Time
	}
	var started sync.WaitGroup
	results := make(chan result, 3)
	for i := range 3 {
		started.Add(1)
		go func() {
			id := fmt.Sprintf("msg_%d", i)
			started.Done()
			resp := s.send(t.Context(), &request{url: srv.URL, msgID: id, payload: []byte(`{}`), now: time.Now()})
			results <- result{id, resp, time.Now()}
		}()
	}
	// All three are under way before the first is answered, so without
	// the connection, the later ones would count their wait.
	started.Wait()
	answeredBefore := map[string]time.Time{} // by msgID: when the request ahead of it was answered
	var (
		mu         sync.Mutex
		lastAnswer time.Time
	)
	for done := 0; done < 3; {
		select {
		case a := <-arrived:
			mu.Lock()
			if !lastAnswer.IsZero() {
				answeredBefore[a.msgID] = lastAnswer
			}
			mu.Unlock()
			time.AfterFunc(600*time.Millisecond, func() {
				mu.Lock()
				lastAnswer = time.Now()
				mu.Unlock()
				close(a.answer)
			})
		case r := <-results:
			done++
			if r.resp.err != nil || r.resp.statusCode != http.StatusNoContent {
				t.Errorf("send %s: status %d, error %v (%s); want 204", r.msgID, r.resp.statusCode, r.resp.err, r.resp.errClass)
			}
			if ahead, ok := answeredBefore[r.msgID]; ok {
				if most := r.returned.Sub(ahead); r.resp.duration > most {
					t.Errorf("send %s: duration %v, but it had the connection for at most %v", r.msgID, r.resp.duration, most)
				}
			}
		}
	}
	if len(answeredBefore) != 2 {
		t.Errorf("%d sends waited for the connection, want 2", len(answeredBefore))
	}
}
