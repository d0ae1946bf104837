package delivery

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors. They always exist, so the
// hot path never checks; they are exported only when Config.Registry is set.
type metrics struct {
	published prometheus.Counter
	attempts  *prometheus.CounterVec
	latency   prometheus.Histogram
	inflight  prometheus.Gauge
	spilled   prometheus.Counter
	backlog   prometheus.GaugeFunc
	circuits  prometheus.GaugeFunc
}

// backlogEvery is how often the backlog gauge may query the store.
const backlogEvery = 5 * time.Second

// backlogTimeout bounds one count of the backlog.
const backlogTimeout = 10 * time.Second

func newMetrics(e *Engine) *metrics {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_messages_published_total",
			Help: "Messages published and stored.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_attempts_total",
			Help: "Delivery attempts by outcome: success, failure (a non-2xx answer), throttled (429, 502, 503, 504), or the error class of an attempt without an answer.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_delivery_latency_seconds",
			Help:    "Time from a message's creation to its successful delivery to one endpoint.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000},
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_inflight",
			Help: "Requests being sent to endpoints now.",
		}),
		spilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_spilled_total",
			Help: "Deliveries handed back to the database because their endpoint's memory queue was full.",
		}),
	}
	var (
		mu   sync.Mutex
		last time.Time
		val  = math.NaN() // unknown until a count succeeds
	)
	m.backlog = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_backlog",
		Help: "Deliveries not yet final (pending or awaiting a retry), sampled at most every 5 seconds; NaN until the first count succeeds.",
	}, func() float64 {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); last.IsZero() || now.Sub(last) >= backlogEvery {
			last = now
			// Counting a large backlog under load takes a while; it reads
			// through a reader connection, so waiting does not hold up
			// writes, and a failed count keeps the last known value.
			ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
			n, err := e.store.Backlog(ctx)
			cancel()
			if err == nil {
				val = float64(n)
			}
		}
		return val
	})
	m.circuits = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_circuits_open",
		Help: "Endpoints whose circuit breaker this node sees open or half-open.",
	}, func() float64 { return float64(e.disp.openCircuits()) })
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.published, m.attempts, m.latency, m.inflight, m.spilled, m.backlog, m.circuits} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("delivery: register metrics: %w", err)
		}
	}
	return nil
}
