package sqlite

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// TestPollPositionSeesACommitDuringTheSeek seeks to "now" while a message
// created now commits: whichever comes first, the position must not be
// past the message, or a consumer would never poll it. Before the seek
// was one statement, its two reads let the commit fall between them
// (typically within a few hundred rounds).
func TestPollPositionSeesACommitDuringTheSeek(t *testing.T) {
	t.Parallel()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	ctx := t.Context()
	base := time.Now().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, base), Name: "a", Metadata: map[string]string{}, CreatedAt: base, UpdatedAt: base}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		at := base.Add(time.Duration(i) * time.Second)
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: app.ID, EventType: "x",
			Payload: []byte(`{}`), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		var wg sync.WaitGroup
		var pos int64
		var perr error
		wg.Go(func() { pos, perr = db.PollPosition(ctx, app.ID, at) })
		if err := db.Publish(ctx, m, nil, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if perr != nil {
			t.Fatal(perr)
		}
		page, err := db.PollMessages(ctx, app.ID, store.PollFilter{After: pos, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, pm := range page.Messages {
			found = found || pm.Message.ID == m.ID
		}
		if !found {
			t.Fatalf("round %d: the message created at the seek's time, committed during it, is behind position %d", i, pos)
		}
	}
}
