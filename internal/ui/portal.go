package ui

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The consumer portal. A portal session is opened by exchanging the token
// of a magic link, and is bound to the token's one application: every
// handler here takes the application from the session and looks up
// endpoints and messages within it only, so another application's IDs are
// simply not found.

// portalTokenPrefix starts every portal token the API issues.
const portalTokenPrefix = "appsk_"

// portalCtx is a portal request: its session and application.
type portalCtx struct {
	ctx
	app *herald.Application
}

// portalHandler is a portal page.
type portalHandler func(w http.ResponseWriter, r *http.Request, c *portalCtx) error

// errPortalExpired ends a portal session whose link is gone.
var errPortalExpired = herald.Errorf(herald.EUNAUTHORIZED, "This portal link has expired. Ask for a new link.")

// errPortalReadOnly refuses a change made through a read-only link.
var errPortalReadOnly = herald.Errorf(herald.EFORBIDDEN, "This portal link is read-only; it cannot make changes.")

// portal wraps h: it requires a portal session that was not ended at
// logout and whose token still exists and has not expired, a valid CSRF
// token on POSTs, and refuses every change through a read-only link. The
// read-only check sits here, for every route, so a route added later
// cannot forget it; it reads the token's kind from the store on each
// request, like its expiry.
func (s *Server) portal(h portalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		base := view{Portal: true}
		sess, ok := s.session(r, portalCookie, kindPortal)
		if ok {
			ended, err := s.ended(w, r, portalCookie, sess)
			if err != nil {
				s.fail(w, r, base, err)
				return
			}
			ok = !ended
		}
		if !ok {
			s.fail(w, r, base, errPortalExpired)
			return
		}
		app, readOnly, err := s.portalApp(r, sess)
		if err != nil {
			if herald.ErrorCode(err) == herald.EUNAUTHORIZED {
				s.setCookie(w, r, portalCookie, "", time.Time{})
			}
			s.fail(w, r, base, err)
			return
		}
		c := &portalCtx{ctx: ctx{sess: sess, view: view{
			Portal: true, AppName: app.Name, ReadOnly: readOnly, CSRF: s.csrfToken(sess), Flash: flashes[r.URL.Query().Get("done")],
		}}, app: app}
		if readOnly && !readOnlyAllows(r) {
			s.fail(w, r, c.view, errPortalReadOnly)
			return
		}
		if r.Method != http.MethodGet {
			if err := parseForm(w, r, 0); err != nil {
				s.fail(w, r, c.view, err)
				return
			}
			if !s.checkCSRF(r, sess) {
				s.fail(w, r, c.view, errForbidden)
				return
			}
		}
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c.view, err)
		}
	}
}

// readOnlyAllows says whether a read-only portal session may make r:
// reads, and leaving the portal, which only ends the session.
func readOnlyAllows(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Pattern == "POST /ui/portal/logout"
}

// portalApp checks the session's token against the store (it may have
// expired or been deleted since) and returns its application, and whether
// the token may only read.
func (s *Server) portalApp(r *http.Request, sess session) (*herald.Application, bool, error) {
	hash, err := hex.DecodeString(sess.TokenHash)
	if err != nil {
		return nil, false, errPortalExpired
	}
	t, err := s.liveToken(r, hash)
	if err != nil {
		return nil, false, err
	}
	if subtle.ConstantTimeCompare([]byte(t.AppID), []byte(sess.AppID)) != 1 {
		return nil, false, errPortalExpired
	}
	app, err := s.store.GetApplication(r.Context(), t.AppID)
	if errors.Is(err, herald.ErrNotFound) {
		return nil, false, errPortalExpired
	}
	return app, t.Kind == store.TokenKindPortalReadOnly, err
}

// liveToken returns the stored portal token with hash, read-only or not,
// or errPortalExpired when it is missing, expired, or not a portal token.
func (s *Server) liveToken(r *http.Request, hash []byte) (*store.Token, error) {
	t, err := s.store.GetToken(r.Context(), hash)
	switch {
	case errors.Is(err, herald.ErrNotFound):
		return nil, errPortalExpired
	case err != nil:
		return nil, err
	case t.Kind != store.TokenKindPortal && t.Kind != store.TokenKindPortalReadOnly || t.AppID == "":
		return nil, errPortalExpired
	case !t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt):
		return nil, errPortalExpired
	}
	return t, nil
}

// portalEntry is the page a magic link opens. Its script reads the token
// from the URL fragment (which never reaches servers or logs) and
// exchanges it for a session.
func (s *Server) portalEntry(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "portal_entry", view{Title: "Opening portal", Portal: true, Bare: true})
}

// portalSession exchanges a portal token for a session cookie. The token
// is the credential, so no CSRF token exists yet; the request must still
// come from this site.
func (s *Server) portalSession(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r, maxOpenFormBytes); err != nil {
		http.Error(w, herald.ErrorDetail(err), statusOf(err))
		return
	}
	token := strings.TrimSpace(r.PostFormValue("key"))
	if !sameOrigin(r) || !strings.HasPrefix(token, portalTokenPrefix) {
		http.Error(w, "Invalid portal link", http.StatusUnauthorized)
		return
	}
	hash, hexHash := tokenHash(token)
	t, err := s.liveToken(r, hash)
	if err != nil {
		status := statusOf(err)
		if status >= 500 {
			s.log.Error("ui: portal token", "err", err)
		}
		http.Error(w, herald.ErrorDetail(err), status)
		return
	}
	exp := t.ExpiresAt
	if exp.IsZero() || exp.After(s.now().Add(s.ttl)) {
		exp = s.now().Add(s.ttl)
	}
	sess := session{Kind: kindPortal, AppID: t.AppID, TokenHash: hexHash, Expires: exp, Nonce: newNonce()}
	s.setCookie(w, r, portalCookie, s.encode(sess), exp)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// portalLogout ends the portal session on every node. The link stays
// valid: opening it again starts a new session.
func (s *Server) portalLogout(w http.ResponseWriter, r *http.Request, c *portalCtx) error {
	if err := s.endSession(w, r, portalCookie, c.sess); err != nil {
		return err
	}
	s.render(w, http.StatusOK, "error", view{Title: "Signed out", Portal: true, Data: struct {
		Status int
		Detail string
	}{0, "You have left the portal. Open your link again to come back."}})
	return nil
}
