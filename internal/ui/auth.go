package ui

import (
	"crypto/subtle"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/herald"
)

// handler is an operator or portal page: it gets the caller's session and
// the view to fill, and returns an error to render instead.
type handler func(w http.ResponseWriter, r *http.Request, c *ctx) error

// ctx is one request's session and the view its page starts from.
type ctx struct {
	sess session
	view view
}

// admin wraps h for operators: it requires an operator session, and a
// valid CSRF token on POSTs. Without a session (or with one ended at
// logout) a GET goes to the login page and anything else is refused.
func (s *Server) admin(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := s.adminSession(w, r)
		if err != nil {
			s.fail(w, r, view{}, err)
			return
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "Log in first", http.StatusUnauthorized)
			return
		}
		c := &ctx{sess: sess, view: view{CSRF: s.csrfToken(sess), Flash: flashes[r.URL.Query().Get("done")]}}
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

// loginPage shows the login form with a fresh CSRF token for it.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	_, ok, err := s.adminSession(w, r)
	if err != nil {
		s.fail(w, r, view{Bare: true}, err)
		return
	}
	if ok {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	s.showLogin(w, r, http.StatusOK, "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	token := newNonce()
	s.setCookie(w, r, loginCookie, token, s.now().Add(time.Hour))
	v := view{Title: "Log in", Bare: true, CSRF: token, Flash: flashes[r.URL.Query().Get("done")]}
	v.Data = struct {
		Problem  string
		Disabled bool
	}{problem, s.adminToken == ""}
	s.render(w, status, "login", v)
}

// login checks the admin token and starts an operator session. The form's
// CSRF token must match the login cookie (double submit), so another site
// cannot log a browser into its own session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r, maxOpenFormBytes); err != nil {
		s.showLogin(w, r, statusOf(err), herald.ErrorDetail(err))
		return
	}
	c, err := r.Cookie(loginCookie)
	form := r.PostFormValue(csrfField)
	if err != nil || form == "" || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		s.showLogin(w, r, http.StatusForbidden, "The form expired; please try again.")
		return
	}
	// The attempt is spent before the token is compared, and a limited
	// client is refused even with the right token: otherwise the answer
	// would tell a right guess from a wrong one whatever the limit. Only
	// this client's budget is spent (see authlimit.Limiter), so others can
	// still log in; behind a trusted proxy, the client is the one it
	// forwards. The budget is the one the API's bearer tokens spend too.
	client := s.proxies.Client(r)
	key := authlimit.ClientKey("", client)
	if wait, ok := s.logins.Take(key, s.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.showLogin(w, r, http.StatusTooManyRequests, "Too many failed attempts; wait a few seconds.")
		return
	}
	token := r.PostFormValue("token")
	if s.adminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.adminToken)) != 1 {
		s.logins.Failed(key, token, s.now())
		s.log.Warn("ui: failed login", "client", client, "remote", r.RemoteAddr)
		s.showLogin(w, r, http.StatusUnauthorized, "That token is not the admin token.")
		return
	}
	s.logins.Refund(key, s.now())
	sess := session{Kind: kindAdmin, TokenHash: s.adminBinding, Expires: s.now().Add(s.ttl), Nonce: newNonce()}
	s.setCookie(w, r, adminCookie, s.encode(sess), sess.Expires)
	s.setCookie(w, r, loginCookie, "", time.Time{})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// logout ends the operator session on every node, not only in this
// browser: a copy of its cookie is refused too.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *ctx) error {
	if err := s.endSession(w, r, adminCookie, c.sess); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/login?done=loggedout", http.StatusSeeOther)
	return nil
}

// redirect sends the browser back to a page after an action, with done
// naming the flash message to show. back must be a path under /ui/;
// anything else falls back to def.
func redirect(w http.ResponseWriter, r *http.Request, back, def, done string) {
	u, err := url.Parse(back)
	if err != nil || !localPath(back) {
		u, _ = url.Parse(def)
	}
	q := u.Query()
	q.Set("done", done)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// localPath reports whether p is a path on this site under /ui/, not a
// scheme-relative or otherwise foreign URL.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/ui/") {
		return false
	}
	return !strings.ContainsAny(p, "\\\r\n\t")
}
