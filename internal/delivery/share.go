package delivery

import (
	"context"
	"log/slog"
	"slices"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/store"
)

// share is this node's part of every per-endpoint limit when several
// nodes share one database: each limit is split between the live nodes so
// that, added up, an endpoint never sees more than its limit just because
// more nodes run.
type share struct {
	index int // this node's place among the live nodes, sorted by ID
	count int // live nodes, at least 1
}

// concurrency is this node's part of limit concurrent requests. The
// remainder goes to the first nodes; a node always keeps at least one, so
// the split holds exactly while there are no more nodes than the limit.
func (s share) concurrency(limit int) int {
	n := limit / s.count
	if s.index < limit%s.count {
		n++
	}
	return max(1, n)
}

// rate is this node's part of perSecond requests per second.
func (s share) rate(perSecond int) rate.Limit {
	return rate.Limit(float64(perSecond) / float64(s.count))
}

// nodeShare returns the current share; a lone node has the whole limit.
func (e *Engine) nodeShare() share {
	if s := e.share.Load(); s != nil {
		return *s
	}
	return share{count: 1}
}

// beatNode tells the store this node is alive and learns how many nodes
// share the limits. Stores that serve one node only (none do today) may
// skip store.Nodes.
func (e *Engine) beatNode(ctx context.Context) {
	e.syncClock(ctx)
	n, ok := e.store.(store.Nodes)
	if !ok {
		return
	}
	live, err := n.HeartbeatNode(ctx, e.cfg.NodeID, e.now(), e.cfg.LeaseDuration)
	if err != nil {
		if ctx.Err() == nil && e.errLimit.allow("node heartbeat", e.now()) {
			e.log.Error("node heartbeat", slog.Any("error", err))
		}
		return
	}
	s := share{index: slices.Index(live, e.cfg.NodeID), count: len(live)}
	if s.index < 0 { // not listed yet: count ourselves in
		s = share{index: len(live), count: len(live) + 1}
	}
	if old := e.nodeShare(); old != s {
		e.log.Info("per-endpoint limits split between nodes", slog.Int("nodes", s.count), slog.Int("index", s.index))
	}
	e.share.Store(&s)
}

// leaveNodes removes this node at shutdown, so the others take its part of
// the limits at their next heartbeat.
func (e *Engine) leaveNodes(ctx context.Context) {
	if n, ok := e.store.(store.Nodes); ok {
		if err := n.ForgetNode(ctx, e.cfg.NodeID); err != nil {
			e.log.Warn("leave node list", slog.Any("error", err))
		}
	}
}
