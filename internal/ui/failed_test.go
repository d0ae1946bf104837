package ui

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

var (
	recoverFormRE = regexp.MustCompile(`(?s)<form[^>]*action="/ui/failed/recover">(.*?)</form>`)
	hiddenRE      = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// TestRecoverAllKeepsToTheFilter submits the Recover all form of the
// failed page filtered on Acme, as the page has it: Acme's failed delivery
// is resent, Globex's is left alone, the button and its confirmation name
// Acme, and the browser returns to the filtered page.
func TestRecoverAllKeepsToTheFilter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.login(t)
	page := c.get(t, "/ui/failed?app="+b.a.ID)
	m := recoverFormRE.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("failed page of Acme: got %d, want 200 with the recover form", page.status)
	}
	text := html.UnescapeString(m[1])
	for _, want := range []string{"Recover all of Acme Store", `data-confirm="Resend every failed delivery of Acme Store in this window?"`} {
		if !strings.Contains(text, want) {
			t.Errorf("recover form of the page filtered on Acme lacks %q", want)
		}
	}
	form := url.Values{"since": {"24h"}}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[1], -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	r := c.post(t, "/ui/failed/recover", form)
	if want := "/ui/failed?app=" + b.a.ID + "&done=recovered"; r.status != http.StatusSeeOther || r.location != want {
		t.Errorf("recover: got %d to %q, want 303 to %q", r.status, r.location, want)
	}
	if got := deliveryStatus(t, b, b.a.ID, b.mA.ID); got.Final() {
		t.Errorf("Acme's delivery after recover: got %v, want it scheduled", got)
	}
	if got := deliveryStatus(t, b, b.b.ID, b.mB.ID); got != herald.StatusFail {
		t.Errorf("Globex's delivery after recovering Acme's: got %v, want it still failed", got)
	}

	// Unfiltered, the button says it acts on every application.
	if all := c.get(t, "/ui/failed"); !strings.Contains(html.UnescapeString(all.body), "Resend every failed delivery of every application in this window?") {
		t.Errorf("unfiltered failed page: the confirmation does not say it recovers every application")
	}
	if r := c.post(t, "/ui/failed/recover", url.Values{"_csrf": form["_csrf"], "since": {"24h"}, "app": {"app_missing"}}); r.status != http.StatusNotFound {
		t.Errorf("recover of an unknown application: got %d, want 404", r.status)
	}
}
