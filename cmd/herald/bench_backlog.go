package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/bench"
)

// runBacklog measures how Herald holds and drains a backlog: an endpoint
// that answers 503 while c.backlog messages are published to it, then
// recovers. Herald runs as a child `herald serve`, so its memory is
// measured alone, without the load generator's and the sink's.
func runBacklog(ctx context.Context, c benchConfig, env Env) error {
	sink, err := bench.NewSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	var down atomic.Bool
	down.Store(true)
	sink.Status = func(string) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}

	h, err := startChildHerald(ctx, c)
	if err != nil {
		return err
	}
	defer h.stop()
	appID, err := benchApp(ctx, h.url, h.token, "backlog", 1, sink.URL+"/ep/")
	if err != nil {
		return err
	}
	out := env.Stdout
	fmt.Fprintf(out, "herald bench --backlog: %s, %d messages to one endpoint that answers 503, %d-byte payload, child pid %d\n",
		storeName(c.database), c.backlog, c.payloadBytes, h.cmd.Process.Pid)
	printDisk(out)

	// Fill: publish while the endpoint is down, sampling Herald's memory.
	peak := h.sampleRSS()
	stopSampling := h.sampleEvery(time.Second, peak)
	load := bench.Load{URL: h.url + "/api/v1/app/" + appID + "/msg", Token: h.token, Body: messageBody(c.payloadBytes),
		Duration: 24 * time.Hour, Count: c.backlog, Concurrency: c.concurrency}
	lr := load.Run(ctx)
	acked := int64(len(lr.Acked))
	m := h.metrics(ctx)
	fmt.Fprintf(out, "fill:   %d acknowledged in %.1fs (%.0f/s, publish p99 %s), %d errors, %d attempts made while down\n",
		acked, lr.Elapsed.Seconds(), float64(acked)/lr.Elapsed.Seconds(), ms(bench.Percentile(lr.Latencies, 99)), lr.Errors, int64(m["herald_attempts_total"]))
	u := bench.ReadProcessUsage(h.cmd.Process.Pid)
	fmt.Fprintf(out, "hold:   %d deliveries held, RSS %d MB (peak so far %d MB), %d delivered\n",
		acked-sink.Delivered(), u.RSS>>20, peak.Load()>>20, sink.Delivered())

	// Drain: the endpoint recovers.
	u0 := bench.ReadProcessUsage(h.cmd.Process.Pid)
	recovered := time.Now()
	down.Store(false)
	var first time.Time
	deadline := recovered.Add(time.Duration(acked/100+60) * time.Second)
	for sink.Delivered() < acked && time.Now().Before(deadline) && ctx.Err() == nil {
		if first.IsZero() && sink.Delivered() > 0 {
			first, u0 = time.Now(), bench.ReadProcessUsage(h.cmd.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	drained := time.Now()
	if first.IsZero() {
		first = drained
	}
	got := sink.Delivered()
	u1 := bench.ReadProcessUsage(h.cmd.Process.Pid)
	fmt.Fprintf(out, "drain:  first delivery %.1fs after recovery; %d of %d delivered in %.1fs = %.0f deliveries/s (Herald CPU %.2f cores)\n",
		first.Sub(recovered).Seconds(), got, acked, drained.Sub(first).Seconds(), float64(got)/drained.Sub(first).Seconds(),
		(u1.CPU-u0.CPU).Seconds()/drained.Sub(first).Seconds())

	// Fresh traffic on the same server, for comparison.
	sink.Reset()
	fresh := load
	fresh.Count, fresh.Duration = 0, c.duration
	start := time.Now()
	lr = fresh.Run(ctx)
	want := int64(len(lr.Acked))
	for sink.Delivered() < want && time.Since(start) < c.duration+time.Minute && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	u2 := bench.ReadProcessUsage(h.cmd.Process.Pid)
	stopSampling()
	fmt.Fprintf(out, "fresh:  %d published and %d delivered in %.1fs = %.0f deliveries/s (Herald CPU %.2f cores)\n",
		want, sink.Delivered(), elapsed.Seconds(), float64(sink.Delivered())/elapsed.Seconds(), (u2.CPU-u1.CPU).Seconds()/elapsed.Seconds())
	fmt.Fprintf(out, "memory: peak RSS %d MB over the whole run (kernel high-water mark %d MB)\n", peak.Load()>>20, u2.HWM>>20)
	return nil
}

// childHerald is `herald serve` run as a separate process.
type childHerald struct {
	cmd        *exec.Cmd
	url, token string
	dataDir    string
}

func startChildHerald(ctx context.Context, c benchConfig) (*childHerald, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	token := hex.EncodeToString(raw)
	args := []string{"serve", "--addr", addr, "--data-dir", dir, "--admin-token", token,
		"--allow-network", "127.0.0.0/8", "--log-level", "warn"}
	if c.database != "" {
		args = append(args, "--database", c.database)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = withoutHeraldSettings(os.Environ())
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &childHerald{cmd: cmd, url: "http://" + addr, token: token, dataDir: dir}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(h.url + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return h, nil
			}
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, fmt.Errorf("bench: herald serve did not answer on %s: %v", addr, err)
		}
	}
}

// stop interrupts the child, waits for it and removes its data.
func (h *childHerald) stop() {
	_ = h.cmd.Process.Signal(os.Interrupt)
	_ = h.cmd.Wait()
	_ = os.RemoveAll(h.dataDir)
}

// sampleRSS returns a counter holding the child's largest RSS seen.
func (h *childHerald) sampleRSS() *atomic.Int64 {
	var peak atomic.Int64
	peak.Store(bench.ReadProcessUsage(h.cmd.Process.Pid).RSS)
	return &peak
}

// sampleEvery raises peak to the child's RSS every interval until the
// returned function is called.
func (h *childHerald) sampleEvery(interval time.Duration, peak *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if rss := bench.ReadProcessUsage(h.cmd.Process.Pid).RSS; rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// metrics reads the child's /metrics and sums each metric over its labels.
func (h *childHerald) metrics(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/metrics", nil)
	if err != nil {
		return out
	}
	req.Header.Set("Authorization", "Bearer "+h.token) // /metrics takes the admin token
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] += v
		}
	}
	return out
}

// withoutHeraldSettings is environ without HERALD_* variables: they
// configure the deployment (its database, its operational webhook), which
// a benchmark's server must never touch.
func withoutHeraldSettings(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "HERALD_") {
			out = append(out, kv)
		}
	}
	return out
}
