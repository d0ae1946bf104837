package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/internal/bench"
	"github.com/heraldhq/herald/internal/store"
)

// benchConfig is what `herald bench` runs.
type benchConfig struct {
	database     string
	duration     time.Duration
	rate         int
	endpoints    int
	payloadBytes int
	concurrency  int
	failingShare float64
	hang         bool
	baseline     bool
	rounds       int
	nodes        int
	cpuProfile   string
	pprofAddr    string
	backlog      int
}

func runBench(ctx context.Context, args []string, env Env) error {
	var c benchConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.database, "database", "", "PostgreSQL URL; empty means SQLite in a temporary directory")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to publish")
	fs.IntVar(&c.rate, "rate", 0, "messages per second to offer; 0 means as fast as the server takes them")
	fs.IntVar(&c.endpoints, "endpoints", 1, "endpoints each message goes to")
	fs.IntVar(&c.payloadBytes, "payload-bytes", 1024, "payload size")
	fs.IntVar(&c.concurrency, "concurrency", 64, "publish requests in flight")
	fs.Float64Var(&c.failingShare, "failing-share", 0, "share of messages (0..1) sent to an application whose endpoint always fails")
	fs.BoolVar(&c.hang, "hang", false, "the failing endpoint hangs until the delivery timeout instead of answering 500")
	fs.BoolVar(&c.baseline, "baseline", true, "also run the no-storage HTTP pipeline, for the ratio")
	fs.IntVar(&c.rounds, "rounds", 1, "run the baseline and Herald this many times, alternately, and report the median ratio (the machine's speed drifts between runs)")
	fs.IntVar(&c.nodes, "nodes", 1, "Herald nodes sharing the database (more than one needs --database)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the (first) Herald run to this file")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve net/http/pprof on this address during the run (e.g. 127.0.0.1:6060)")
	fs.IntVar(&c.backlog, "backlog", 0, "instead: publish this many messages to an endpoint that answers 503, then let it recover, and measure Herald's memory and drain rate")
	// The command line only: HERALD_DATABASE names the deployment's own
	// database, which a benchmark must never write into (its node would
	// also claim the deployment's deliveries, and send them to loopback
	// addresses the real nodes refuse).
	if err := parseArgs(fs, args, env); err != nil {
		return err
	}
	if c.nodes < 1 || (c.nodes > 1 && c.database == "") {
		return fmt.Errorf("bench: --nodes above 1 needs --database: SQLite serves one node")
	}
	if c.endpoints < 1 || c.payloadBytes < 16 || c.concurrency < 1 || c.rounds < 1 || c.failingShare < 0 || c.failingShare >= 1 || c.backlog < 0 {
		return fmt.Errorf("bench: --endpoints, --concurrency and --rounds must be at least 1, --payload-bytes at least 16, --failing-share in [0,1), --backlog not negative")
	}

	if c.backlog > 0 {
		return runBacklog(ctx, c, env)
	}

	sink, err := bench.NewSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	body := messageBody(c.payloadBytes)
	out := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(env.Stdout, "herald bench: %s, %d endpoint(s) per message, %d-byte payload, %s, rate %s, %d publishers\n",
		storeName(c.database), c.endpoints, c.payloadBytes, c.duration, rateName(c.rate), c.concurrency)
	printDisk(env.Stdout)
	fmt.Fprintln(out, "run\tpublished/s\tpublish p50\tpublish p99\tdelivered/s\tdelay p50\tdelay p99\tCPU cores\tpeak RSS MB\tratio")

	if c.pprofAddr != "" {
		ln, err := net.Listen("tcp", c.pprofAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	var ratios []float64
	for round := range c.rounds {
		var base *benchResult
		if c.baseline && c.failingShare == 0 {
			base, err = benchBaseline(ctx, c, sink, body)
			if err != nil {
				return err
			}
			base.print(out, nil)
			sink.Reset()
		}
		res, err := benchProfiled(ctx, c, sink, body, round == 0)
		if err != nil {
			return err
		}
		res.print(out, base)
		sink.Reset()
		if base != nil && base.eventsPerSec > 0 {
			ratios = append(ratios, res.eventsPerSec/base.eventsPerSec)
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if len(ratios) > 1 {
		slices.Sort(ratios)
		fmt.Fprintf(env.Stdout, "\nmedian ratio over %d rounds: %.2f (lowest %.2f, highest %.2f)\n",
			len(ratios), median(ratios), ratios[0], ratios[len(ratios)-1])
	}
	return nil
}

// printDisk reports how long this machine's disk takes to make an append
// durable, where the SQLite runs keep their files, since every commit
// waits for it; a line, then a blank one.
func printDisk(w io.Writer) {
	dir := os.TempDir()
	if d, err := bench.SyncLatency(dir, 32); err != nil {
		fmt.Fprintf(w, "disk: %v\n\n", err)
	} else {
		fmt.Fprintf(w, "disk: a 64 KiB append and fsync in %s takes %s at the median\n\n", dir, d.Round(time.Microsecond))
	}
}

// benchProfiled runs Herald once, under the CPU profiler when asked and
// profile is set (the first round only, so the file holds one run).
func benchProfiled(ctx context.Context, c benchConfig, sink *bench.Sink, body []byte, profile bool) (*benchResult, error) {
	if c.cpuProfile != "" && profile {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	return benchHerald(ctx, c, sink, body)
}

// median returns the middle of sorted values (the mean of the two middle
// ones for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

type benchResult struct {
	name         string
	published    float64
	pubP50       time.Duration
	pubP99       time.Duration
	delivered    float64
	delayP50     time.Duration
	delayP99     time.Duration
	cores        float64
	peakRSS      int64
	errors       int64
	undelivered  int64
	unrecorded   int64   // acknowledged deliveries whose successful attempt is not on record
	eventsPerSec float64 // messages delivered to all their endpoints per second
}

func (r *benchResult) print(w io.Writer, base *benchResult) {
	ratio := "-"
	if base != nil && base.eventsPerSec > 0 {
		ratio = fmt.Sprintf("%.2f", r.eventsPerSec/base.eventsPerSec)
	}
	fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%.2f\t%d\t%s\n", r.name, r.published,
		ms(r.pubP50), ms(r.pubP99), r.delivered, ms(r.delayP50), ms(r.delayP99), r.cores, r.peakRSS>>20, ratio)
	if r.errors > 0 || r.undelivered > 0 || r.unrecorded > 0 {
		fmt.Fprintf(w, "  %d publish errors, %d acknowledged deliveries missing at the end, %d without their attempt on record\n",
			r.errors, r.undelivered, r.unrecorded)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func benchBaseline(ctx context.Context, c benchConfig, sink *bench.Sink, body []byte) (*benchResult, error) {
	// The baseline fans out to as many endpoints as Herald does, so the
	// ratio compares the same HTTP work.
	urls := make([]string, c.endpoints)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/ep/%d", sink.URL, i)
	}
	b, err := bench.NewBaseline(urls, 64)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	load := bench.Load{URL: b.URL + "/msg", Body: body, Rate: c.rate, Duration: c.duration, Concurrency: c.concurrency}
	return measure(ctx, "baseline (no storage)", load, sink, c.endpoints, nil)
}

func benchHerald(ctx context.Context, c benchConfig, sink *bench.Sink, body []byte) (*benchResult, error) {
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	token := hex.EncodeToString(raw)
	h, err := startBenchServer(ctx, c, token)
	if err != nil {
		return nil, err
	}
	defer h.stop()
	appID, err := benchApp(ctx, h.url, h.token, "bench", c.endpoints, sink.URL+"/ep/")
	if err != nil {
		return nil, err
	}
	load := bench.Load{URL: h.url + "/api/v1/app/" + appID + "/msg", Token: h.token, Body: body, Rate: c.rate, Duration: c.duration, Concurrency: c.concurrency}
	for range c.nodes - 1 {
		other, err := startBenchServer(ctx, c, token)
		if err != nil {
			return nil, err
		}
		defer other.stop()
		load.MoreURLs = append(load.MoreURLs, other.url+"/api/v1/app/"+appID+"/msg")
	}
	if c.failingShare == 0 {
		name := "herald (" + storeName(c.database) + ")"
		if c.nodes > 1 {
			name = fmt.Sprintf("herald (%s, %d nodes)", storeName(c.database), c.nodes)
		}
		return measure(ctx, name, load, sink, c.endpoints, h.succeeded)
	}

	// Isolation: a second application whose endpoint fails takes a share of
	// the traffic; only the healthy application's deliveries are counted.
	failURL := sink.URL + "/fail/"
	sink.Status = func(path string) int {
		if strings.HasPrefix(path, "/fail/") {
			if c.hang {
				<-ctx.Done()
			}
			return 500
		}
		return 200
	}
	failApp, err := benchApp(ctx, h.url, h.token, "failing", 1, failURL)
	if err != nil {
		return nil, err
	}
	healthyConc := max(1, int(float64(c.concurrency)*(1-c.failingShare)))
	failing := load
	failing.URL = h.url + "/api/v1/app/" + failApp + "/msg"
	failing.Concurrency = max(1, c.concurrency-healthyConc)
	load.Concurrency = healthyConc
	if c.rate > 0 {
		failing.Rate = int(float64(c.rate) * c.failingShare)
		load.Rate = c.rate - failing.Rate
	}
	done := make(chan bench.LoadResult, 1)
	go func() { done <- failing.Run(ctx) }()
	res, err := measure(ctx, fmt.Sprintf("herald, %.0f%% to a failing endpoint (healthy share)", c.failingShare*100), load, sink, c.endpoints, h.succeeded)
	<-done
	return res, err
}

// measure runs load, waits for its deliveries, and computes the figures.
// With succeeded (Herald's runs), the run ends only once every delivery's
// successful attempt is on record too: the sink sees a request before its
// result is committed.
func measure(ctx context.Context, name string, load bench.Load, sink *bench.Sink, fanout int,
	succeeded func(ctx context.Context, since time.Time) (int64, error)) (*benchResult, error) {
	bench.ResetPeakRSS()
	u0 := bench.ReadUsage()
	start := time.Now()
	lr := load.Run(ctx)
	want := int64(len(lr.Acked) * fanout)
	// Wait for the acknowledged deliveries, up to a minute past the load.
	deadline := time.Now().Add(time.Minute)
	lastCount, lastChange := sink.Delivered(), time.Now()
	for sink.Delivered() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		if n := sink.Delivered(); n != lastCount {
			lastCount, lastChange = n, time.Now()
		}
	}
	end := lastChange
	if sink.Delivered() >= want {
		end = time.Now()
	}
	var unrecorded int64
	if succeeded != nil {
		n, at, err := waitRecorded(ctx, succeeded, start, want)
		if err != nil {
			return nil, err
		}
		unrecorded = want - n
		if at.After(end) {
			end = at
		}
	}
	u1 := bench.ReadUsage()
	elapsed := end.Sub(start)
	delays := make([]time.Duration, 0, len(lr.Acked))
	for _, p := range lr.Acked {
		if at, ok := sink.Arrival(p.ID); ok {
			delays = append(delays, at.Sub(p.At))
		}
	}
	got := min(sink.Delivered(), want)
	return &benchResult{
		name:         name,
		published:    float64(len(lr.Acked)) / lr.Elapsed.Seconds(),
		pubP50:       bench.Percentile(lr.Latencies, 50),
		pubP99:       bench.Percentile(lr.Latencies, 99),
		delivered:    float64(got) / elapsed.Seconds(),
		eventsPerSec: float64(got) / float64(fanout) / elapsed.Seconds(),
		delayP50:     bench.Percentile(delays, 50),
		delayP99:     bench.Percentile(delays, 99),
		cores:        (u1.CPU - u0.CPU).Seconds() / elapsed.Seconds(),
		peakRSS:      u1.HWM,
		errors:       lr.Errors,
		undelivered:  want - got,
		unrecorded:   unrecorded,
	}, nil
}

// waitRecorded polls succeeded until it counts want deliveries, for up to
// a minute, and returns the count and when it got there (or last grew).
func waitRecorded(ctx context.Context, succeeded func(context.Context, time.Time) (int64, error), since time.Time, want int64) (int64, time.Time, error) {
	deadline := time.Now().Add(time.Minute)
	var n int64
	at := time.Now()
	for {
		got, err := succeeded(ctx, since)
		if err != nil {
			return 0, at, fmt.Errorf("count recorded deliveries: %w", err)
		}
		if got != n {
			n, at = got, time.Now()
		}
		if n >= want || time.Now().After(deadline) || ctx.Err() != nil {
			return n, at, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchServer is a Herald started in-process for a benchmark.
type benchServer struct {
	*server
	url, token string
}

func startBenchServer(ctx context.Context, c benchConfig, token string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, err
	}
	var cfg serveConfig
	fs := flagSet(&cfg)
	// Only the benchmark's own settings: HERALD_* configures the
	// deployment (its database, its operational webhook), never this.
	env := Env{Stdout: io.Discard, Stderr: os.Stderr, Getenv: os.Getenv}
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--admin-token", token,
		"--allow-network", "127.0.0.0/8", "--timeout", "5s", "--max-body-bytes", "4194304"}
	if c.database != "" {
		args = append(args, "--database", c.database)
	}
	if err := parseArgs(fs, args, env); err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := startServer(ctx, cfg, env, logger)
	if err != nil {
		return nil, err
	}
	return &benchServer{server: s, url: "http://" + s.addr, token: token}, nil
}

// succeeded counts the deliveries created since then that succeeded: each
// with its successful attempt on record, since a result moves its delivery
// in the transaction that logs the attempt.
func (b *benchServer) succeeded(ctx context.Context, since time.Time) (int64, error) {
	d, ok := b.store.(store.Dashboard)
	if !ok {
		return 0, fmt.Errorf("the %T store cannot count deliveries", b.store)
	}
	st, err := d.DeliveryStats(ctx, since.Add(-time.Second), time.Now().Add(time.Hour))
	return st.Success, err
}

func (b *benchServer) stop() {
	_ = b.server.stop()
	_ = os.RemoveAll(b.cfg.dataDir)
}

// benchApp creates an application with n endpoints at prefix + index.
func benchApp(ctx context.Context, url, token, name string, n int, prefix string) (string, error) {
	c, err := newAPIClient(url, token)
	if err != nil {
		return "", err
	}
	var app struct{ ID string }
	if err := c.do(ctx, "POST", "/api/v1/app", map[string]any{"name": name}, &app); err != nil {
		return "", err
	}
	for i := range n {
		if err := c.do(ctx, "POST", "/api/v1/app/"+app.ID+"/endpoint",
			map[string]any{"url": fmt.Sprintf("%s%d", prefix, i)}, nil); err != nil {
			return "", err
		}
	}
	return app.ID, nil
}

// messageBody is a publish request whose payload serializes to about n bytes.
func messageBody(n int) []byte {
	pad := strings.Repeat("x", max(0, n-len(`{"data":""}`)))
	return []byte(`{"eventType":"bench.event","payload":{"data":"` + pad + `"}}`)
}

func storeName(database string) string {
	if database != "" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func rateName(rate int) string {
	if rate == 0 {
		return "flat out"
	}
	return fmt.Sprintf("%d/s", rate)
}
