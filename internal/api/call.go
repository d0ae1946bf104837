package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// call is one request as a handler sees it: who is calling, the
// application the path names (for application routes), and helpers to
// answer.
type call struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	ctx context.Context
	who principal
	// app is the application named by {app_id}, resolved before the handler
	// runs on routes that require one.
	app *herald.Application
	now time.Time
	// route is the pattern that matched, for logs and metrics.
	route string
	// msgID is the ID a publish under an Idempotency-Key gives its
	// message: the key's claim holds it, so a retry after a crash finds
	// the message the first request may have stored (see idempotently).
	msgID string
	// earlier are the msgIDs of the requests with the same key that held
	// its claim before and died, oldest first: one of them may have
	// stored its message.
	earlier []string
}

// path returns a path parameter.
func (c *call) path(name string) string { return c.r.PathValue(name) }

// body reads and decodes the request body into v.
func (c *call) body(v any) error {
	b, err := c.s.readBody(c.w, c.r)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// json answers with v encoded as JSON.
func (c *call) json(status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	writeRaw(c.w, status, b)
	return nil
}

// noContent answers with an empty body.
func (c *call) noContent(status int) error {
	c.w.WriteHeader(status)
	return nil
}
