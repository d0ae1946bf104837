package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// idempotencyTTL is how long a key's saved response is replayed.
const idempotencyTTL = 24 * time.Hour

// idempotentRunLimit bounds an idempotent request. The server reads a whole
// request within a minute (ReadTimeout in cmd/herald/serve.go), which leaves
// the handler another minute. Keeping it well under
// store.IdempotencyClaimTimeout means an older claim without a response was
// left by a process that died, and the store hands the key to the next
// request instead of answering 409 until the key expires.
const idempotentRunLimit = 2 * time.Minute

// idempotencyKey scopes the caller's Idempotency-Key by token, method and
// path, so two tokens or two routes never share a key.
func idempotencyKey(c *call, key string) string {
	h := sha256.New()
	h.Write(c.who.hash)
	for _, part := range []string{c.r.Method, c.r.URL.Path, key} {
		h.Write([]byte{0})
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idempotently runs h at most once per Idempotency-Key: a repeated key
// replays the saved status and body, and a key whose first request is
// still running gets 409.
func (s *Server) idempotently(c *call, h func(*call) error) error {
	raw := c.r.Header.Get("Idempotency-Key")
	if len(raw) > 256 {
		return invalid([]string{"header", "idempotency-key"}, "Idempotency-Key must be at most 256 characters")
	}
	key := idempotencyKey(c, raw)
	// A publish notes its message ID in the claim, committed with it: if
	// the process dies after the message commits but before its answer is
	// saved, the retry that takes the claim over answers with that message
	// instead of publishing it again.
	note := ""
	if c.route == createMessageRoute {
		note = herald.NewID(herald.PrefixMessage, c.now)
	}
	saved, claimed, err := s.store.BeginIdempotent(c.ctx, key, c.now, c.now.Add(idempotencyTTL), note)
	switch {
	case errors.Is(err, herald.ErrConflict):
		return herald.Errorf(herald.ECONFLICT, "A request with this Idempotency-Key is still in progress")
	case err != nil:
		return err
	case saved != nil:
		body, err := s.replayBody(c, saved)
		if err != nil {
			return err
		}
		if c.legacyGoSDK() {
			body = legacyReplay(body)
		}
		c.w.Header().Set("Idempotent-Replayed", "true")
		if len(body) == 0 {
			c.w.WriteHeader(saved.StatusCode)
			return nil
		}
		writeRaw(c.w, saved.StatusCode, body)
		return nil
	}

	if note != "" {
		c.msgID, c.earlier = note, strings.Fields(strings.TrimSuffix(claimed, note))
	}
	resp := s.runIdempotent(c, h)
	ctx, cancel := detached(c.ctx)
	defer cancel()
	if err := s.store.FinishIdempotent(ctx, key, resp); err != nil {
		s.log.Error("save idempotent response", "route", c.route, "err", err)
	}
	return nil
}

// replayBody is the body a repeated request gets: the saved one, except
// that a publish's answer carries the payload, which may have been
// expunged since, or have expired with its message. Then the replay
// carries none either.
func (s *Server) replayBody(c *call, resp *store.IdempotentResponse) ([]byte, error) {
	saved := resp.Body
	if c.route != createMessageRoute || resp.StatusCode/100 != 2 {
		return saved, nil
	}
	var out map[string]json.RawMessage
	if json.Unmarshal(saved, &out) != nil || out["payload"] == nil || bytes.Equal(out["payload"], []byte(`{}`)) {
		return saved, nil
	}
	var id string
	if json.Unmarshal(out["id"], &id) == nil && c.app != nil {
		msg, err := s.store.GetMessage(c.ctx, c.app.ID, id)
		switch {
		case err == nil && len(msg.Payload) > 0:
			return saved, nil
		case err != nil && !errors.Is(err, herald.ErrNotFound):
			return nil, err
		}
	}
	out["payload"] = json.RawMessage(`{}`)
	return json.Marshal(out)
}

// legacyReplay drops from a saved answer the fields a legacy Go SDK
// rejects (legacysdk.go): the answer was saved for whichever client sent
// the key first, and a client may retry with another SDK version. The
// answers a key can save are those of POST routes: an application or
// endpoint (eventTypes, throttleRate) or a recover task (updatedAt).
func legacyReplay(body []byte) []byte {
	var out map[string]json.RawMessage
	if json.Unmarshal(body, &out) != nil {
		return body
	}
	drop := []string{"eventTypes", "throttleRate"}
	if _, task := out["task"]; task {
		drop = append(drop, "updatedAt")
	}
	n := len(out)
	for _, k := range drop {
		delete(out, k)
	}
	if len(out) == n {
		return body
	}
	if b, err := json.Marshal(out); err == nil {
		return b
	}
	return body
}

// runIdempotent runs h within idempotentRunLimit and answers. It returns
// the response to save for the key, or nil to release the key: the answer
// may go differently on a retry, or the request body never fully arrived
// (a dropped upload is not a verdict on the request the retry sends).
func (s *Server) runIdempotent(c *call, h func(*call) error) *store.IdempotentResponse {
	ctx, cancel := context.WithTimeout(c.ctx, idempotentRunLimit)
	defer cancel()
	body := &bodyWatch{ReadCloser: c.r.Body}
	c.r.Body = body
	cw := &captureWriter{ResponseWriter: c.w}
	c.ctx, c.w = ctx, cw
	if err := h(c); err != nil {
		s.fail(c, err)
	}
	if body.broken || !replayable(cw.code()) {
		return nil
	}
	return &store.IdempotentResponse{StatusCode: cw.code(), Body: cw.buf.Bytes()}
}

// replayable reports whether a response is final for its key. Server
// errors, throttling and conflicts may go differently on a retry, so their
// key is released instead.
func replayable(status int) bool {
	switch {
	case status >= 500, status == http.StatusTooManyRequests, status == http.StatusConflict,
		status == http.StatusUnauthorized:
		return false
	}
	return true
}

// bodyWatch notes whether reading the request body failed below the size
// limit: the client disconnected or timed out mid-upload. io.EOF is the
// body's normal end.
type bodyWatch struct {
	io.ReadCloser
	broken bool
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.broken = true
	}
	return n, err
}

// captureWriter keeps a copy of the response for the idempotency record.
type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) answered() bool { return w.status != 0 }

func (w *captureWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
