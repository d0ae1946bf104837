package inbound

import (
	"regexp"
	"strings"
	"testing"
)

// subscribable is the pattern the API takes for event type names (Svix's).
var subscribable = regexp.MustCompile(`^[a-zA-Z0-9\-_.]*$`)

func TestEventTypeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"charge.succeeded":       "charge.succeeded",
		"orders/create":          "orders.create",
		"Push Hook":              "Push_Hook",
		"app/uninstalled":        "app.uninstalled",
		"Issue.create":           "Issue.create",
		"café\x00\xff":           "caf___",
		"":                       "",
		strings.Repeat("a", 300): strings.Repeat("a", maxEventType),
	} {
		if got := eventTypeName(in); got != want {
			t.Errorf("eventTypeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGitLabEventTypeFallsBackToTheHeader: a body without object_kind or
// event_name is typed by X-Gitlab-Event, made subscribable.
func TestGitLabEventTypeFallsBackToTheHeader(t *testing.T) {
	t.Parallel()
	cfg := VerifierConfig{Type: TypeGitLab, Secrets: []string{"tok"}}
	for body, want := range map[string]string{
		`{"object_kind":"merge_request"}`: "merge_request",
		`{"event_name":"project_create"}`: "project_create",
		`{}`:                              "Push_Hook",
		`not json`:                        "Push_Hook",
	} {
		req := Request{Method: "POST", Header: headers("X-Gitlab-Token", "tok", "X-Gitlab-Event", "Push Hook"), Body: []byte(body)}
		res, err := mustVerifier(t, cfg, t0).Verify(&req)
		if err != nil || res.EventType != want {
			t.Errorf("body %s: got %q, %v; want %q", body, res.EventType, err, want)
		}
	}
}

// FuzzEventTypeName: whatever a provider sends, the event type is one an
// endpoint can subscribe to.
func FuzzEventTypeName(f *testing.F) {
	for _, s := range []string{"orders/create", "Push Hook", "a\x00b", "\xff", "ünïcode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := eventTypeName(s)
		if len(got) > maxEventType || !subscribable.MatchString(got) {
			t.Fatalf("eventTypeName(%q) = %q: not a subscribable name", s, got)
		}
	})
}
