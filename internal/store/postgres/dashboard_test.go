package postgres

import (
	"testing"

	"github.com/heraldhq/herald/internal/store/dashtest"
)

func TestDashboard(t *testing.T) {
	t.Parallel()
	dashtest.Run(t, func(t *testing.T) dashtest.Store { return openTest(t) })
}
