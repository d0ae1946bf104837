package inbound

import (
	"sort"
	"sync"
	"time"
)

// Refusal counts the requests a source refused for one reason since this
// node started: refused requests are not stored, so this and the metric
// are all there is to show an operator.
type Refusal struct {
	Reason string
	Count  int64
	Last   time.Time
}

// refusals tallies refused requests per source and reason.
type refusals struct {
	mu sync.Mutex
	by map[string]map[string]*Refusal
}

func (r *refusals) add(sourceID, reason string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = make(map[string]map[string]*Refusal)
	}
	m := r.by[sourceID]
	if m == nil {
		m = make(map[string]*Refusal)
		r.by[sourceID] = m
	}
	c := m[reason]
	if c == nil {
		c = &Refusal{Reason: reason}
		m[reason] = c
	}
	c.Count++
	c.Last = at
}

// Refusals returns what sourceID refused since this node started, most
// recent first.
func (h *Handler) Refusals(sourceID string) []Refusal {
	h.refusals.mu.Lock()
	out := make([]Refusal, 0, len(h.refusals.by[sourceID]))
	for _, c := range h.refusals.by[sourceID] {
		out = append(out, *c)
	}
	h.refusals.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	return out
}
