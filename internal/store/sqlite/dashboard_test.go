package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/store/dashtest"
)

func TestDashboard(t *testing.T) {
	t.Parallel()
	dashtest.Run(t, func(t *testing.T) dashtest.Store {
		db, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "herald.db"), Synchronous: "OFF"})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	})
}
