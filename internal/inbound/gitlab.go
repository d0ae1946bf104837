package inbound

import "time"

// newGitLab checks X-Gitlab-Token, which GitLab sets to the webhook's
// secret token as is. The event type is the body's object_kind ("push",
// "merge_request"), or event_name for system hooks, or else X-Gitlab-Event
// ("Push Hook", which becomes "Push_Hook"); the id Idempotency-Key, which GitLab keeps across retries, or
// X-Gitlab-Event-UUID from older GitLab versions.
func newGitLab(secrets []string) preset {
	verify := func(m *message, _ time.Time) error {
		token := m.header("X-Gitlab-Token")
		if token == "" {
			return missing("no X-Gitlab-Token header")
		}
		if !anySecretEqual(token, secrets) {
			return mismatch("X-Gitlab-Token does not match the source's secrets")
		}
		return nil
	}
	return preset{
		verify:        verify,
		eventType:     firstNonEmpty(jsonValue("object_kind"), jsonValue("event_name"), headerValue("X-Gitlab-Event")),
		dedupeKey:     firstNonEmpty(headerValue("Idempotency-Key"), headerValue("X-Gitlab-Event-UUID")),
		secretHeaders: []string{"X-Gitlab-Token"},
	}
}
