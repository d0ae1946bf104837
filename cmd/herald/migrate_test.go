package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
)

// TestMigrateBothEngines runs `herald migrate` on an empty SQLite data
// directory and an empty PostgreSQL schema, twice each: the schema is
// created, and a second run finds nothing to do.
func TestMigrateBothEngines(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	for name, args := range map[string][]string{
		"sqlite":   {"--data-dir", dataDir},
		"postgres": {"--database", pgtest.SchemaURL(t, pgtest.URL(), pgtest.NewSchema(t))},
	} {
		t.Run(name, func(t *testing.T) {
			for range 2 {
				var out, errOut bytes.Buffer
				env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
				if err := Main(context.Background(), append([]string{"migrate"}, args...), env); err != nil {
					t.Fatalf("migrate: %v\n%s", err, errOut.String())
				}
				if got := out.String(); got != storeName(map[string]string{"postgres": "x"}[name])+" schema is up to date\n" {
					t.Errorf("output %q", got)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dataDir, "herald.db")); err != nil {
		t.Errorf("the SQLite database was not created: %v", err)
	}
	var errOut bytes.Buffer
	err := Main(context.Background(), []string{"migrate", "--database", "mysql://x"}, Env{Stdout: &bytes.Buffer{}, Stderr: &errOut, Getenv: func(string) string { return "" }})
	if err == nil {
		t.Error("migrate with a non-PostgreSQL URL: got no error")
	}
}
