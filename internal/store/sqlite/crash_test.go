package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// crashChildEnv, when set, makes the test binary a publisher that the
// crash test kills; its value is the database path.
const crashChildEnv = "HERALD_SQLITE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		if err := publishUntilKilled(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// publishUntilKilled publishes from several goroutines and prints the ID of
// each message once Publish has returned, which is when the API would
// acknowledge it.
func publishUntilKilled(path string) error {
	ctx := context.Background()
	db, err := Open(ctx, Config{Path: path})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				now := time.Now()
				m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: "app_crash", EventType: "t",
					Payload: []byte(`{"n":1}`), CreatedAt: now}
				if err := db.Publish(ctx, m, []herald.Delivery{{EndpointID: "ep_crash"}}, "", time.Time{}); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				fmt.Fprintln(out, m.ID)
				err := out.Flush()
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	return <-errs
}

// Every publish acknowledged before a kill -9 is in the file afterwards.
func TestAcknowledgedPublishesSurviveKill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herald.db")
	setup, err := Open(ctx, Config{Path: path})
	must(t, err)
	now := time.Now().UTC()
	must(t, setup.CreateApplication(ctx, &herald.Application{ID: "app_crash", Name: "crash", CreatedAt: now, UpdatedAt: now}))
	must(t, setup.CreateEndpoint(ctx, &herald.Endpoint{ID: "ep_crash", AppID: "app_crash", URL: "https://crash", CreatedAt: now, UpdatedAt: now}))
	must(t, setup.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())

	const killAfter = 500
	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		acked = append(acked, sc.Text())
		if len(acked) == killAfter {
			must(t, cmd.Process.Signal(syscall.SIGKILL))
		}
	}
	_ = cmd.Wait()
	if len(acked) < killAfter {
		t.Fatalf("publisher stopped after %d acknowledgements, before the kill: %s", len(acked), stderr.String())
	}

	db := openTest(t, path)
	for _, id := range acked {
		if _, err := db.GetMessage(ctx, "app_crash", id); err != nil {
			t.Fatalf("acknowledged message %s after kill -9: %v", id, err)
		}
	}
	n, err := db.Backlog(ctx)
	must(t, err)
	if n < int64(len(acked)) {
		t.Errorf("backlog after kill -9: got %d, want at least the %d acknowledged", n, len(acked))
	}
}
