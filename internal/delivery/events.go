package delivery

import "github.com/heraldhq/herald/internal/store"

// Events hears of attempt results once they are durably recorded, so what
// it reports (operational webhooks) describes committed state. The
// recorder calls Recorded after each committed batch, from its own
// goroutines: it must not block, and must not keep batch or disabled,
// which are reused.
type Events interface {
	// Recorded receives a committed batch of results and the IDs of the
	// endpoints that batch disabled.
	Recorded(batch []store.Result, disabled []string)
}

// notifyRecorded passes a committed batch to Config.Events, if set.
func (e *Engine) notifyRecorded(batch []store.Result, disabled []string) {
	if e.cfg.Events != nil {
		e.cfg.Events.Recorded(batch, disabled)
	}
}
