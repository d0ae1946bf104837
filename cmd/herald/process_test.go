package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers that run the real herald binary as a child process, for tests
// that must kill it.

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// heraldBinary builds the herald command once per test run.
func heraldBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// heraldProcess is one running `herald serve`.
type heraldProcess struct {
	cmd    *exec.Cmd
	URL    string
	exited chan struct{}

	logMu      sync.Mutex
	logs       *bytes.Buffer
	logChanged chan struct{} // closed and replaced on every line
}

// waitLog blocks until a log line matches re, or ctx ends.
func (p *heraldProcess) waitLog(ctx context.Context, re *regexp.Regexp) bool {
	for {
		p.logMu.Lock()
		found := re.Match(p.logs.Bytes())
		ch := p.logChanged
		p.logMu.Unlock()
		if found {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

var listeningRE = regexp.MustCompile(`herald listening.* addr=(\S+)`)

// startHerald runs `herald serve` with args on a free loopback port and
// waits until it reports the address it listens on.
func startHerald(t *testing.T, args ...string) *heraldProcess {
	t.Helper()
	cmd := exec.Command(heraldBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "HERALD_LOG_LEVEL=info")
	// If the test binary dies (a timeout panic), the server dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &heraldProcess{cmd: cmd, exited: make(chan struct{}), logs: &bytes.Buffer{}, logChanged: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logMu.Lock()
			p.logs.WriteString(line + "\n")
			close(p.logChanged)
			p.logChanged = make(chan struct{})
			p.logMu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })

	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-p.exited:
		p.logMu.Lock()
		defer p.logMu.Unlock()
		t.Fatalf("herald exited before listening:\n%s", p.logs)
	case <-time.After(60 * time.Second):
		t.Fatal("herald did not report its address within 60s")
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *heraldProcess) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.exited
}

// interrupt asks for a graceful shutdown and waits for the exit.
func (p *heraldProcess) interrupt() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	<-p.exited
}

// call makes one API request with the admin token and decodes the answer.
func call(ctx context.Context, base, token, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", raw, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, nil
}
