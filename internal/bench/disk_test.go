package bench

import (
	"os"
	"testing"
)

func TestSyncLatencyLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := SyncLatency(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("median %v, want more than 0", d)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d files left in the directory, want none", len(left))
	}
	if _, err := SyncLatency(dir, 0); err == nil {
		t.Error("0 samples: no error")
	}
	if _, err := SyncLatency(dir+"/missing", 1); err == nil {
		t.Error("a missing directory: no error")
	}
}
