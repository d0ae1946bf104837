package postgres

import (
	"testing"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storetest"
)

// TestConformance runs the shared store suite, each test on a fresh schema
// of the real server, then checks the generic plan of every statement the
// suite ran (checkGenericPlans).
func TestConformance(t *testing.T) {
	rec := &statementRecorder{}
	t.Run("suite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, rec.attach) })
	})
	t.Run("generic plans", func(t *testing.T) { checkGenericPlans(t, rec, 100) })
}
