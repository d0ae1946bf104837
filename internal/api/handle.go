package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// access says who may call a route and what runs before its handler.
type access uint8

const (
	// public routes need no token.
	public access = 1 << iota
	// anyToken routes take any valid token.
	anyToken
	// admin routes take the admin token only.
	admin
	// appScoped routes resolve {app_id} (ID or UID) before the handler and
	// take the admin token or a token of that application.
	appScoped
	// adminApp routes resolve {app_id} and take the admin token only.
	adminApp
	// appOrMissing is appScoped, except that a missing application reaches
	// the handler with a nil app when the caller is an admin.
	appOrMissing
	// idempotent routes honour the Idempotency-Key header.
	idempotent
)

// route is one entry of the route table, kept so tests can walk every
// route (the tenant-isolation matrix) without a list of their own.
type route struct {
	pattern string
	access  access
}

// handle registers h for pattern behind authentication, access checks,
// idempotency, error mapping and metrics.
func (s *Server) handle(pattern string, a access, h func(*call) error) {
	s.table = append(s.table, route{pattern: pattern, access: a})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		c := &call{s: s, w: sw, r: r, ctx: r.Context(), now: s.now(), route: pattern}
		if err := s.serve(c, a, h); err != nil {
			s.fail(c, err)
		}
		s.metrics.observe(pattern, sw.code(), time.Since(start))
	})
}

// serve runs the checks a calls for, then h.
func (s *Server) serve(c *call, a access, h func(*call) error) error {
	if a&public != 0 {
		return h(c)
	}
	who, err := s.authenticateLimited(c)
	if err != nil {
		return err
	}
	c.who = who
	if err := s.rateLimit(c); err != nil {
		return err
	}
	switch {
	case a&admin != 0 && !who.admin:
		return herald.Errorf(herald.EFORBIDDEN, "This route needs the admin token")
	case a&(appScoped|adminApp|appOrMissing) != 0:
		if err := s.resolveApp(c, a); err != nil {
			return err
		}
	}
	if a&idempotent != 0 && c.r.Header.Get("Idempotency-Key") != "" {
		return s.idempotently(c, h)
	}
	return h(c)
}

// resolveApp loads the application named by {app_id} into c.app and checks
// that the caller may use it. A token of another application gets 403
// whether or not the named application exists, so tokens learn nothing
// about other tenants.
func (s *Server) resolveApp(c *call, a access) error {
	if a&adminApp != 0 && !c.who.admin {
		return herald.Errorf(herald.EFORBIDDEN, "This route needs the admin token")
	}
	id := c.path("app_id")
	app, err := s.apps.get(c.ctx, s.store, id)
	switch {
	case errors.Is(err, herald.ErrNotFound):
		if !c.who.admin {
			return errOtherApp
		}
		if a&appOrMissing != 0 {
			return nil
		}
		return herald.Errorf(herald.ENOTFOUND, "Application %q not found", id)
	case err != nil:
		return err
	}
	if !c.who.admin && app.ID != c.who.appID {
		return errOtherApp
	}
	c.app = app
	return nil
}

var errOtherApp = herald.Errorf(herald.EFORBIDDEN, "This token is scoped to another application")

// statusClientGone is the status of a request whose client hung up before
// its answer (nginx's 499): nobody reads it, and it is not Herald's
// failure, so it is neither a 5xx in the metrics nor an error in the log.
const statusClientGone = 499

// fail answers with err mapped to its status. Internal errors are logged
// and replaced by a generic detail.
func (s *Server) fail(c *call, err error) {
	status, body := errorResponse(err)
	if errors.Is(err, context.Canceled) && c.r.Context().Err() != nil {
		status = statusClientGone
	}
	if status >= 500 {
		s.log.LogAttrs(c.ctx, slog.LevelError, "api request failed",
			slog.String("route", c.route), slog.Int("status", status), slog.Any("err", err))
	}
	if a, ok := c.w.(interface{ answered() bool }); ok && a.answered() {
		return // the handler already answered; nothing more can be sent
	}
	writeRaw(c.w, status, body)
}

// statusWriter remembers the status written, for metrics and fail.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// hijacking for WebSockets).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) answered() bool { return w.status != 0 }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// detached returns a context that outlives the request, for bookkeeping
// that must finish even if the client goes away.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}
