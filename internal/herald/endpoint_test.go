package herald

import (
	"slices"
	"testing"
	"time"
)

func TestEndpointAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ep        Endpoint
		eventType string
		channels  []string
		want      bool
	}{
		{"no filters take everything", Endpoint{}, "a", nil, true},
		{"event type listed", Endpoint{EventTypes: []string{"a", "b"}}, "b", nil, true},
		{"event type not listed", Endpoint{EventTypes: []string{"a"}}, "c", nil, false},
		{"channel matches one of the message's", Endpoint{Channels: []string{"x"}}, "a", []string{"y", "x"}, true},
		{"channel filter and a message without channels", Endpoint{Channels: []string{"x"}}, "a", nil, false},
		{"both filters must pass", Endpoint{EventTypes: []string{"a"}, Channels: []string{"x"}}, "b", []string{"x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ep.Accepts(tt.eventType, tt.channels); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSigningKeysKeepRotatedSecretUntilExpiry(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	ep := Endpoint{Secrets: []Secret{
		{Key: "new"},
		{Key: "old", ExpiresAt: now.Add(24 * time.Hour)},
		{Key: "older", ExpiresAt: now.Add(-time.Second)},
	}}
	if got := ep.SigningKeys(now); !slices.Equal(got, []string{"new", "old"}) {
		t.Errorf("now: got %v, want [new old]", got)
	}
	if got := ep.SigningKeys(now.Add(25 * time.Hour)); !slices.Equal(got, []string{"new"}) {
		t.Errorf("after the grace period: got %v, want [new]", got)
	}
}

func TestValidHeaderValue(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"Bearer abc": true, "a\tb": true, "ünï": true, "": true,
		"a\x01b": false, "a\x7f": false, "a\rb": false, "a\nb": false, "\x00": false, "\x1b[31m": false,
	} {
		if got := ValidHeaderValue(v); got != want {
			t.Errorf("ValidHeaderValue(%q) = %v, want %v", v, got, want)
		}
	}
}
