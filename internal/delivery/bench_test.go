package delivery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, ok)
	ep := endpoint("ep_metrics", srv.URL)
	reg := prometheus.NewRegistry()
	b := setup(t, Config{Registry: reg}, ep)
	msg := b.publish(t, message("a", `{}`))
	b.waitFinal(t, msg.ID, ep.ID)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				values[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				values[name] = m.Gauge.GetValue()
			case m.Histogram != nil:
				values[name] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"herald_messages_published_total": 1,
		"herald_attempts_total/success":   1,
		"herald_delivery_latency_seconds": 1,
		"herald_inflight":                 0,
		"herald_backlog":                  0,
	}
	for name, v := range want {
		if got, ok := values[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
}

// BenchmarkDispatch measures the engine from publish to recorded result:
// messages fan out to four endpoints on a loopback sink in this process,
// and the benchmark ends when every result has been recorded. The
// "memory" variant uses the in-memory fake store, so it shows the
// engine's own cost plus both sides of loopback HTTP; "sqlite" adds a
// real database file.
func BenchmarkDispatch(b *testing.B) {
	for _, variant := range []string{"memory", "sqlite"} {
		b.Run(variant, func(b *testing.B) { benchDispatch(b, variant) })
	}
}

func benchDispatch(b *testing.B, variant string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const endpoints = 4
	var eps []herald.Endpoint
	for i := range endpoints {
		eps = append(eps, endpoint("ep_bench_"+strconv.Itoa(i), srv.URL))
	}

	var st Store
	if variant == "sqlite" {
		st = openSQLite(b, eps...)
	} else {
		m := newMemStore()
		for _, ep := range eps {
			m.addEndpoint(ep)
		}
		st = m
	}
	var done atomic.Int64
	finished := make(chan struct{})
	total := int64(b.N) * endpoints
	counting := &countingStore{Store: st, done: &done, total: total, finished: finished}

	// Publishers can outrun the sink; what does not fit in an endpoint's
	// queue spills to the store and comes back with the next poll.
	e, err := New(Config{Store: counting, AllowNetworks: loopback, PollInterval: 50 * time.Millisecond, EndpointQueue: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	}()

	payload := []byte(`{"type":"invoice.paid","data":{"id":"in_123","amount":4200,"currency":"eur"}}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(64) // many API requests publish at once
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: testApp,
				EventType: "invoice.paid", Payload: payload, CreatedAt: now}
			if err := e.Publish(ctx, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if total > 0 {
		select {
		case <-finished:
		case <-time.After(time.Minute):
			b.Fatalf("recorded %d of %d results", done.Load(), total)
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	b.StopTimer()
	// On a shared machine the rate depends on the neighbours; the CPU
	// spent per delivery (sender, sink and store together) does not.
	if cpu > 0 && total > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/delivery")
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// countingStore counts recorded results and signals when all are in.
type countingStore struct {
	Store
	done     *atomic.Int64
	total    int64
	finished chan struct{}
}

func (s *countingStore) Record(ctx context.Context, results []store.Result) ([]string, error) {
	disabled, err := s.Store.Record(ctx, results)
	if err == nil && s.done.Add(int64(len(results))) == s.total {
		close(s.finished)
	}
	return disabled, err
}
