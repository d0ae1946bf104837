//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes the exclusive lock on dataDir that keeps a second
// herald serve off it: two processes would share one node id, and the
// second's startup would release the first's leases, sending its in-flight
// deliveries twice. The lock is an flock on dataDir/serve.lock, so the OS
// drops it when the process dies, even by kill -9. The returned func
// releases it.
func lockDataDir(dataDir string) (unlock func(), err error) {
	path := filepath.Join(dataDir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data dir lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = " (pid " + pid + ")"
			}
		}
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another herald serve%s", dataDir, holder)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	// The pid is only a hint for the message above; the lock is the flock.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
