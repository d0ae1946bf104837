package api

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Herald's delivery controls of an endpoint: its circuit breaker and strict
// FIFO ordering. They have routes of their own because some Svix Go SDKs
// reject unknown fields in an endpoint's JSON (see legacysdk.go).

// circuitOut is an endpoint's circuit breaker.
type circuitOut struct {
	State           string     `json:"state"` // closed, open or halfOpen
	OpenedAt        *time.Time `json:"openedAt,omitempty"`
	RetryAt         *time.Time `json:"retryAt,omitempty"`
	CooldownSeconds int64      `json:"cooldownSeconds,omitempty"`
}

func toCircuitOut(c herald.Circuit) circuitOut {
	out := circuitOut{State: c.State.String()}
	if c.State == herald.CircuitClosed {
		return out
	}
	opened, retry := c.OpenedAt.UTC(), c.RetryAt.UTC()
	out.OpenedAt, out.RetryAt = &opened, &retry
	out.CooldownSeconds = int64(c.Cooldown / time.Second)
	return out
}

// orderingIO is an endpoint's ordering setting.
type orderingIO struct {
	FIFO *bool `json:"fifo"`
}

func (s *Server) getEndpointCircuit(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, toCircuitOut(ep.Circuit))
}

// resetEndpointCircuit closes the circuit at once, so the endpoint's
// deliveries flow again without waiting for a probe.
func (s *Server) resetEndpointCircuit(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if err := s.store.CloseCircuit(c.ctx, ep.ID, c.now); err != nil {
		return err
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.pub.Wake()
	return c.json(http.StatusOK, toCircuitOut(herald.Circuit{}))
}

func (s *Server) getEndpointOrdering(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, orderingIO{FIFO: &ep.Ordered})
}

func (s *Server) updateEndpointOrdering(c *call) error {
	var in orderingIO
	if err := c.body(&in); err != nil {
		return err
	}
	if in.FIFO == nil {
		return invalidBody("fifo", "fifo is required: true for strict first-in first-out delivery, false otherwise")
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	ep, err = s.store.UpdateEndpoint(c.ctx, c.app.ID, ep.ID, func(ep *herald.Endpoint) error {
		ep.Ordered, ep.UpdatedAt = *in.FIFO, c.now
		return nil
	})
	if err != nil {
		return err
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointUpdated(c.app, ep, false)
	return c.json(http.StatusOK, orderingIO{FIFO: &ep.Ordered})
}
