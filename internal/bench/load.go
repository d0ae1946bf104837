package bench

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load publishes messages over HTTP, flat out or at a fixed rate.
type Load struct {
	URL         string   // the publish URL
	MoreURLs    []string // further publish URLs (other nodes); publishers are spread over all
	Token       string
	Body        []byte // request body, the same for every message
	Rate        int    // messages per second; 0 means as fast as possible
	Duration    time.Duration
	Count       int // stop after this many publishes were sent (0: no limit)
	Concurrency int // requests in flight at most; 0 means 64
}

// Published is one acknowledged message.
type Published struct {
	ID string
	At time.Time // when the publish was due to be sent
}

// LoadResult is what a load run saw.
type LoadResult struct {
	Acked     []Published
	Errors    int64
	Latencies []time.Duration // publish request latencies, from the due time
	Elapsed   time.Duration
}

// NewClient returns an HTTP client that keeps enough idle connections for
// concurrency requests to one host.
func NewClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        concurrency * 2,
			MaxIdleConnsPerHost: concurrency * 2,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// Run publishes until Duration has passed or Count publishes were sent. With a Rate, message i is due at
// start + i/Rate, and its latency counts from then, so a slow server cannot
// hide its queueing behind fewer requests (no coordinated omission).
func (l Load) Run(ctx context.Context) LoadResult {
	conc := l.Concurrency
	if conc == 0 {
		conc = 64
	}
	client := NewClient(conc)
	defer client.CloseIdleConnections()

	start := time.Now()
	deadline := start.Add(l.Duration)
	var next atomic.Int64
	var errors atomic.Int64
	results := make([]LoadResult, conc)
	var wg sync.WaitGroup
	urls := append([]string{l.URL}, l.MoreURLs...)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			url := urls[w%len(urls)]
			// Reused for every request: the load generator shares the CPU under test.
			var buf bytes.Buffer
			auth := []string{"Bearer " + l.Token}
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if l.Count > 0 && i >= int64(l.Count) {
					return
				}
				due := time.Now()
				if l.Rate > 0 {
					due = start.Add(time.Duration(i) * time.Second / time.Duration(l.Rate))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				if due.After(deadline) {
					return
				}
				id, ok := l.publish(ctx, client, url, auth, &buf)
				if !ok {
					errors.Add(1)
					continue
				}
				res.Latencies = append(res.Latencies, time.Since(due))
				res.Acked = append(res.Acked, Published{ID: id, At: due})
			}
		}()
	}
	wg.Wait()
	out := LoadResult{Errors: errors.Load(), Elapsed: time.Since(start)}
	for _, r := range results {
		out.Acked = append(out.Acked, r.Acked...)
		out.Latencies = append(out.Latencies, r.Latencies...)
	}
	return out
}

var (
	idKey    = []byte(`"id":"`)
	jsonType = []string{"application/json"}
)

func (l Load) publish(ctx context.Context, client *http.Client, url string, auth []string, buf *bytes.Buffer) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(l.Body))
	if err != nil {
		return "", false
	}
	req.Header["Content-Type"] = jsonType
	req.Header["Authorization"] = auth
	resp, err := client.Do(req)
	if err != nil {
		return "", false
	}
	buf.Reset()
	_, _ = buf.ReadFrom(resp.Body)
	body := buf.Bytes()
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", false
	}
	// Cheaper than decoding: the load generator shares the CPU under test.
	i := bytes.Index(body, idKey)
	if i < 0 {
		return "", false
	}
	rest := body[i+len(idKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}
