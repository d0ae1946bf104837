package inbound

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Source defaults and bounds.
const (
	// DefaultDedupeWindow outlasts the retries of every supported provider
	// (Stripe retries for three days).
	DefaultDedupeWindow = 72 * time.Hour
	// MaxDedupeWindow bounds a source's window.
	MaxDedupeWindow = 30 * 24 * time.Hour
	// DefaultMaxBodyBytes bounds a request body when the source sets no
	// limit; it is above what the providers send (GitHub caps at 25 MiB,
	// but most events are far smaller).
	DefaultMaxBodyBytes = 1 << 20
	// MaxBodyBytesLimit bounds what a source may set.
	MaxBodyBytesLimit = 32 << 20
	// Retention is how long a forwarded message keeps its payload, like a
	// published message without a retention period.
	Retention = 90 * 24 * time.Hour
)

// SourceVerifier decodes src's verifier configuration and builds it. now
// is the clock for timestamp tolerances; nil means time.Now.
func SourceVerifier(src *store.Source, now func() time.Time) (*Verifier, VerifierConfig, error) {
	var cfg VerifierConfig
	if err := json.Unmarshal(src.Verifier, &cfg); err != nil {
		return nil, cfg, fmt.Errorf("source %s: decode verifier: %w", src.ID, err)
	}
	v, err := NewVerifier(cfg, now)
	if err != nil {
		return nil, cfg, fmt.Errorf("source %s: %w", src.ID, err)
	}
	return v, cfg, nil
}

// ForwardedMessage builds the message an inbound event becomes in the
// source's application: the exact body the provider sent, its content
// type (made storable, see storable), and its headers except those that
// carry credentials or belong to the connection. Herald signs it for each
// endpoint like any message.
func ForwardedMessage(src *store.Source, ev *store.InboundEvent, now time.Time) *herald.Message {
	h := http.Header(ev.Headers)
	msg := &herald.Message{
		ID:          herald.NewID(herald.PrefixMessage, now),
		AppID:       src.AppID,
		EventType:   ev.EventType,
		Payload:     ev.Body,
		CreatedAt:   now,
		ExpiresAt:   now.Add(Retention),
		ContentType: storable(h.Get("Content-Type")),
		Headers:     make(map[string]string, len(h)),
	}
	if msg.ContentType == "" {
		msg.ContentType = "application/octet-stream"
	}
	for k, v := range h {
		if len(v) == 0 || !forwardable(http.CanonicalHeaderKey(k)) {
			continue
		}
		msg.Headers[k] = strings.Join(v, ", ")
	}
	return msg
}

// forwardable reports whether a stored request header goes to the app.
// ck is canonical.
func forwardable(ck string) bool {
	switch ck {
	case "Content-Type", "Content-Length", "Host", "Accept-Encoding", "User-Agent",
		"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Expect", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded":
		return false
	}
	return true
}

// KeptHeaders returns the request headers an inbound event keeps: all but
// those carrying credentials (basic-auth and api-key secrets, GitLab's
// token, cookies), which must not be stored or forwarded.
func KeptHeaders(h http.Header, cfg VerifierConfig) map[string][]string {
	out := make(map[string][]string, len(h))
	custom := ""
	if cfg.Type == TypeAPIKey && cfg.Header != "" {
		custom = http.CanonicalHeaderKey(cfg.Header)
	}
	for k, v := range h {
		switch k {
		case "Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Gitlab-Token", custom:
			continue
		}
		out[k] = v
	}
	return out
}
