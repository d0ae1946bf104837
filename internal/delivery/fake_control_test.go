package delivery

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// The memStore's applications and circuits, as the store contract has
// them (storetest specifies both).

func (s *memStore) setApplication(app herald.Application) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps == nil {
		s.apps = make(map[string]*herald.Application)
	}
	s.apps[app.ID] = &app
	s.notify()
}

func (s *memStore) GetApplication(_ context.Context, id string) (*herald.Application, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[id]
	if app == nil {
		return nil, herald.ErrNotFound
	}
	cp := *app
	return &cp, nil
}

func (s *memStore) OpenCircuit(_ context.Context, id string, from herald.CircuitState, now time.Time, cooldown time.Duration) (herald.Circuit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[id]
	if ep == nil {
		return herald.Circuit{}, herald.ErrNotFound
	}
	if ep.Circuit.State == from {
		opened := ep.Circuit.OpenedAt
		if from == herald.CircuitClosed {
			opened = now
		}
		ep.Circuit = herald.Circuit{State: herald.CircuitOpen, OpenedAt: opened, RetryAt: now.Add(cooldown), Cooldown: cooldown}
		s.notify()
	}
	return ep.Circuit, nil
}

func (s *memStore) ProbeCircuit(_ context.Context, id string, now time.Time, hold time.Duration) (herald.Circuit, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[id]
	if ep == nil {
		return herald.Circuit{}, false, herald.ErrNotFound
	}
	if ep.Circuit.State == herald.CircuitClosed || now.Before(ep.Circuit.RetryAt) {
		return ep.Circuit, false, nil
	}
	ep.Circuit.State, ep.Circuit.RetryAt = herald.CircuitHalfOpen, now.Add(hold)
	s.notify()
	return ep.Circuit, true, nil
}

func (s *memStore) CloseCircuit(_ context.Context, id string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[id]
	if ep == nil {
		return herald.ErrNotFound
	}
	ep.Circuit = herald.Circuit{}
	s.notify()
	return nil
}

// circuit returns the endpoint's stored circuit.
func (s *memStore) circuit(id string) herald.Circuit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endpoints[id].Circuit
}
