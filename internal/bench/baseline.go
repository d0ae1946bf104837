package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Baseline is the no-storage pipeline that bounds what any gateway can do
// on this machine: it answers each POST at once and forwards the body with
// one POST to each endpoint's URL, from a pool of workers. No storage, no
// signing, no retries.
type Baseline struct {
	URL string // base URL; publish to URL + "/msg"

	sinkURLs []string
	queue    chan baselineMsg
	srv      *http.Server
	client   *http.Client
	seq      atomic.Int64
	wg       sync.WaitGroup
}

// baselineMsg is one message on its way to one endpoint.
type baselineMsg struct {
	id   string
	url  string
	body []byte
}

// NewBaseline starts the pipeline on a free loopback port, forwarding each
// message to every one of sinkURLs with workers concurrent requests.
func NewBaseline(sinkURLs []string, workers int) (*Baseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Baseline{
		URL:      "http://" + ln.Addr().String(),
		sinkURLs: sinkURLs,
		queue:    make(chan baselineMsg, 1<<17),
		client:   NewClient(workers),
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.accept), ReadHeaderTimeout: 10 * time.Second}
	for range workers {
		b.wg.Add(1)
		go b.forward()
	}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *Baseline) accept(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := fmt.Sprintf("msg_%d", b.seq.Add(1))
	for _, url := range b.sinkURLs {
		b.queue <- baselineMsg{id: id, url: url, body: body}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"id":"%s"}`, id)
}

func (b *Baseline) forward() {
	defer b.wg.Done()
	for m := range b.queue {
		req, err := http.NewRequest(http.MethodPost, m.url, bytes.NewReader(m.body))
		if err != nil {
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", m.id)
		resp, err := b.client.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// Close stops accepting, forwards what was queued, and returns.
func (b *Baseline) Close() error {
	err := b.srv.Close()
	close(b.queue)
	b.wg.Wait()
	return err
}
