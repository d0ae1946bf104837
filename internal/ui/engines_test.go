package ui_test

import (
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/ui"
)

// Both store engines serve the interface.
var (
	_ ui.Store = (*sqlite.DB)(nil)
	_ ui.Store = (*postgres.DB)(nil)
)
