package ui

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var (
	olderLinkRE = regexp.MustCompile(`<a class="btn small" href="([^"]*)">Older`)
	msgLinkRE   = regexp.MustCompile(`/messages/(msg_[A-Za-z0-9]+)"`)
	failedRowRE = regexp.MustCompile(`data-msg="(msg_[A-Za-z0-9]+)"`)
)

// TestOlderLinkTurnsThePage follows the "Older" link of every paged list
// from its first page, as a browser would: the second page shows other,
// older rows of the same filter, and has no Older link of its own.
func TestOlderLinkTurnsThePage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.failMany(t, b.a, b.a1, 60) // with mA, 61 messages and failures of Acme
	admin, _ := b.login(t)
	portal, _ := b.portal(t, b.a)
	for _, tc := range []struct {
		name string
		c    *client
		path string
		row  *regexp.Regexp
	}{
		{"messages", admin, "/ui/messages?app=" + b.a.ID, msgLinkRE},
		{"portal messages", portal, "/ui/portal/messages", msgLinkRE},
		{"failed", admin, "/ui/failed?app=" + b.a.ID, failedRowRE},
	} {
		p1 := tc.c.get(t, tc.path)
		m := olderLinkRE.FindStringSubmatch(p1.body)
		if p1.status != http.StatusOK || m == nil {
			t.Errorf("%s: page 1 got %d, want 200 with an Older link", tc.name, p1.status)
			continue
		}
		p2 := tc.c.get(t, html.UnescapeString(m[1]))
		rows1, rows2 := ids(tc.row, p1.body), ids(tc.row, p2.body)
		// 61 rows of Acme: 50, then 11. More would mean the filter was lost.
		if p2.status != http.StatusOK || len(rows1) != 50 || len(rows2) != 11 {
			t.Errorf("%s: got %d rows, then %d (status %d) following %s; want 50, then 11", tc.name, len(rows1), len(rows2), p2.status, m[1])
			continue
		}
		if oldest, newest := slices.Min(rows1), slices.Max(rows2); newest >= oldest {
			t.Errorf("%s: page 2 starts at %s, want rows older than page 1's last %s", tc.name, newest, oldest)
		}
		if olderLinkRE.MatchString(p2.body) {
			t.Errorf("%s: the last page has an Older link", tc.name)
		}
	}
}

// ids returns the first group of every match of re in body.
func ids(re *regexp.Regexp, body string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// failMany publishes n messages of app to ep, older than the seeded ones,
// and fails each delivery for good.
func (b *bundle) failMany(t *testing.T, app *herald.Application, ep *herald.Endpoint, n int) {
	t.Helper()
	for i := range n {
		at := b.now.Add(-time.Hour + time.Duration(i)*time.Second)
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: app.ID, EventType: "invoice.paid",
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: at, ExpiresAt: at.Add(2 * time.Hour)}
		d := herald.Delivery{MsgID: m.ID, EndpointID: ep.ID, AppID: app.ID, Status: herald.StatusPending,
			NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
		must(t, "publish", b.db.Publish(b.ctx, m, []herald.Delivery{d}, "", time.Time{}))
	}
	for {
		jobs, err := b.db.Claim(b.ctx, "test", b.now, time.Minute, 100)
		must(t, "claim", err)
		if len(jobs) == 0 {
			return
		}
		var results []store.Result
		for _, j := range jobs {
			results = append(results, store.Result{Attempt: herald.Attempt{
				ID: herald.NewID(herald.PrefixAttempt, b.now), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
				AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: herald.StatusFail, StatusCode: 500, CreatedAt: b.now,
			}, Outcome: herald.Outcome{Status: herald.StatusFail}, Attempts: j.Delivery.Attempts + 1, Owner: j.Delivery.LeaseOwner})
		}
		_, err = b.db.Record(b.ctx, results)
		must(t, "record", err)
	}
}
