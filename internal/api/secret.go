package api

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

const (
	// defaultGrace is how long a rotated-out secret keeps signing.
	defaultGrace = 24 * time.Hour
	// maxSecrets bounds how many secrets (current plus rotated-out) an
	// endpoint keeps, so rotating in a loop cannot grow every request's
	// signature header without bound.
	maxSecrets = 10
)

// newSecret returns a fresh HMAC signing secret: whsec_ + base64 of 24
// random bytes.
func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

type endpointSecretOut struct {
	Key string `json:"key"`
}

type endpointSecretRotateIn struct {
	Key                *string `json:"key"`
	GracePeriodSeconds *int64  `json:"gracePeriodSeconds"`
}

func (s *Server) getEndpointSecret(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if len(ep.Secrets) == 0 {
		return herald.Errorf(herald.ENOTFOUND, "Endpoint %q has no signing secret", ep.ID)
	}
	key, err := webhook.VerifyingKey(ep.Secrets[0].Key)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, endpointSecretOut{Key: key})
}

// rotateEndpointSecret makes a new secret current. The old one keeps
// signing for the grace period (24 hours unless gracePeriodSeconds says
// otherwise), so consumers can switch without dropping messages.
func (s *Server) rotateEndpointSecret(c *call) error {
	var in endpointSecretRotateIn
	b, err := s.readBody(c.w, c.r)
	if err != nil {
		return err
	}
	if len(b) > 0 {
		if err := decodeJSON(b, &in); err != nil {
			return err
		}
	}
	key := newSecret()
	if in.Key != nil {
		if key, err = checkSecret("key", *in.Key); err != nil {
			return err
		}
	}
	grace := defaultGrace
	if in.GracePeriodSeconds != nil {
		if *in.GracePeriodSeconds < 0 || *in.GracePeriodSeconds > 7*24*3600 {
			return invalidBody("gracePeriodSeconds", "gracePeriodSeconds must be between 0 and 604800")
		}
		grace = secondsDuration(*in.GracePeriodSeconds)
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	ep, err = s.store.UpdateEndpoint(c.ctx, c.app.ID, ep.ID, func(ep *herald.Endpoint) error {
		ep.Secrets, ep.UpdatedAt = rotate(ep.Secrets, key, c.now, grace), c.now
		return nil
	})
	if err != nil {
		return err
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointUpdated(c.app, ep, false)
	return c.noContent(http.StatusNoContent)
}

// rotate returns secrets with key made current: the current secret expires
// at now+grace, secrets already expired are dropped, and at most
// maxSecrets are kept.
func rotate(secrets []herald.Secret, key string, now time.Time, grace time.Duration) []herald.Secret {
	out := make([]herald.Secret, 0, len(secrets)+1)
	out = append(out, herald.Secret{Key: key})
	for i, sec := range secrets {
		if i == 0 || sec.ExpiresAt.IsZero() {
			sec.ExpiresAt = now.Add(grace)
		}
		if !now.Before(sec.ExpiresAt) || sec.Key == key {
			continue
		}
		if len(out) == maxSecrets {
			break
		}
		out = append(out, sec)
	}
	return out
}
