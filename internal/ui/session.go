package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Operator and portal sessions use separate cookies, so
// opening a portal link never replaces an operator's session.
const (
	adminCookie  = "herald_session"
	portalCookie = "herald_portal"
	loginCookie  = "herald_login" // CSRF token of the login form
	csrfField    = "_csrf"
	csrfHeader   = "X-CSRF-Token"
	cookiePath   = "/ui/"
)

// Session kinds.
const (
	kindAdmin  = "admin"
	kindPortal = "portal"
)

// session is what a signed cookie carries. A portal session names its
// application and the hash of the token it was opened with, so revoking or
// expiring the token ends the session too. An operator session carries a
// keyed hash of the admin token it was opened with (adminKey), so starting
// Herald with another admin token ends it.
type session struct {
	Kind      string
	AppID     string
	TokenHash string // portal: hex SHA-256 of the token; admin: adminKey
	Expires   time.Time
	Nonce     string // random; binds the CSRF token to this session
}

// encode serializes and signs sess: payload "." signature, both base64url.
func (s *Server) encode(sess session) string {
	payload := strings.Join([]string{
		sess.Kind, sess.AppID, sess.TokenHash, strconv.FormatInt(sess.Expires.Unix(), 10), sess.Nonce,
	}, "|")
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", p))
}

// decode verifies v and returns its session; ok is false when the
// signature is wrong, the value malformed, or the session expired.
func (s *Server) decode(v string) (session, bool) {
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", p)) {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return session{}, false
	}
	f := strings.Split(string(raw), "|")
	if len(f) != 5 {
		return session{}, false
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return session{}, false
	}
	sess := session{Kind: f[0], AppID: f[1], TokenHash: f[2], Expires: time.Unix(exp, 0), Nonce: f[4]}
	if !s.now().Before(sess.Expires) {
		return session{}, false
	}
	return sess, true
}

// mac is HMAC-SHA256 of msg under the session secret, separated by purpose.
func (s *Server) mac(purpose, msg string) []byte {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte("herald-ui/" + purpose + "\x00" + msg))
	return h.Sum(nil)
}

// adminKey is the hex HMAC of an admin token under the session secret:
// the admin session's binding to its token. Keyed, unlike a portal
// token's plain hash, because an operator may choose a guessable admin
// token, and the cookie must not let anyone who reads it test guesses
// offline.
func (s *Server) adminKey(token string) string {
	return hex.EncodeToString(s.mac("admin-token", token))
}

// csrfToken is the CSRF token of sess: forms carry it in _csrf and
// scripts in the X-CSRF-Token header.
func (s *Server) csrfToken(sess session) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", sess.Kind+"|"+sess.Nonce))
}

// checkCSRF reports whether r carries sess's CSRF token and, when the
// browser says where the request came from, comes from this site.
func (s *Server) checkCSRF(r *http.Request, sess session) bool {
	if !sameOrigin(r) {
		return false
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrfToken(sess))) == 1
}

// sameOrigin rejects requests whose Origin (or, lacking it, Referer)
// names another host than the one asked for (or, behind a proxy, the one
// the proxy was asked for). Requests without either pass: the CSRF token
// is the real check.
func sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return true
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Host == r.Host || u.Host == r.Header.Get("X-Forwarded-Host")
}

// newNonce returns 16 random bytes, base64url.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// setCookie sets a session-grade cookie: HttpOnly, SameSite=Lax, scoped to
// /ui/, Secure when the request came over TLS or Config.SecureCookies says
// a TLS proxy stands in front.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     cookiePath,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   r.TLS != nil || s.secureCookies,
	}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// session returns the valid session of kind in r's cookie named name.
func (s *Server) session(r *http.Request, name, kind string) (session, bool) {
	c, err := r.Cookie(name)
	if err != nil {
		return session{}, false
	}
	sess, ok := s.decode(c.Value)
	if !ok || sess.Kind != kind {
		return session{}, false
	}
	return sess, true
}

// adminSession returns r's operator session, if it is valid, was opened
// with the current admin token, and was not ended at logout. err is set
// only when the store cannot tell.
func (s *Server) adminSession(w http.ResponseWriter, r *http.Request) (session, bool, error) {
	sess, ok := s.session(r, adminCookie, kindAdmin)
	if !ok || s.adminBinding == "" || subtle.ConstantTimeCompare([]byte(sess.TokenHash), []byte(s.adminBinding)) != 1 {
		return session{}, false, nil
	}
	if ended, err := s.ended(w, r, adminCookie, sess); err != nil || ended {
		return session{}, false, err
	}
	return sess, true, nil
}

// revocationMargin keeps a revocation past its session's expiry, so a
// node whose clock lags the one running retention still refuses the
// cookie until it sees it expired.
const revocationMargin = 5 * time.Minute

// endSession ends sess, whose cookie is named name: it records the session
// as revoked in the store, which every node reads, so any copy of the
// cookie is refused from now on, then clears the cookie in this browser.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, name string, sess session) error {
	if err := s.store.RevokeSession(r.Context(), sessionID(sess), sess.Expires.Add(revocationMargin)); err != nil {
		return err
	}
	s.setCookie(w, r, name, "", time.Time{})
	return nil
}

// ended reports whether sess was ended at logout, on any node; if so it
// clears its cookie named name, so the browser stops sending it.
func (s *Server) ended(w http.ResponseWriter, r *http.Request, name string, sess session) (bool, error) {
	revoked, err := s.store.SessionRevoked(r.Context(), sessionID(sess))
	if err != nil {
		return false, err
	}
	if revoked {
		s.setCookie(w, r, name, "", time.Time{})
	}
	return revoked, nil
}

// sessionID names sess in the store: a hash of its nonce, so the store
// holds nothing a cookie or CSRF token is made from.
func sessionID(sess session) []byte {
	sum := sha256.Sum256([]byte("herald-ui/session\x00" + sess.Kind + "|" + sess.Nonce))
	return sum[:]
}

// tokenHash returns the hex SHA-256 of a token.
func tokenHash(token string) ([]byte, string) {
	sum := sha256.Sum256([]byte(token))
	return sum[:], hex.EncodeToString(sum[:])
}
