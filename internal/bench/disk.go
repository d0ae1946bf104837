package bench

import (
	"fmt"
	"os"
	"time"
)

// SyncLatency appends 64 KiB blocks to a file in dir, syncing each to disk,
// and returns the median time of an append and its sync. A durable store
// waits about this long per commit, so it tells two machines, or one
// machine at two moments, apart where the CPU figures alone would not.
func SyncLatency(dir string, samples int) (time.Duration, error) {
	if samples < 1 {
		return 0, fmt.Errorf("sync latency: %d samples", samples)
	}
	f, err := os.CreateTemp(dir, "herald-bench-sync-*")
	if err != nil {
		return 0, fmt.Errorf("sync latency: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 64<<10)
	took := make([]time.Duration, samples)
	for i := range took {
		start := time.Now()
		if _, err := f.Write(block); err != nil {
			return 0, fmt.Errorf("sync latency: %w", err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("sync latency: %w", err)
		}
		took[i] = time.Since(start)
	}
	return Percentile(took, 50), nil
}
