package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// principal is who is calling.
type principal struct {
	admin bool
	appID string // set for application-scoped tokens
	// hash is the SHA-256 of the token; it scopes idempotency keys and
	// identifies stored tokens for logout.
	hash   []byte
	stored bool // the token lives in the store (not the configured admin token)
}

// Token prefixes. Only the SHA-256 of a token is stored.
const portalTokenPrefix = "appsk_"

// writingReads are the GET routes that change state, which a read-only
// token may not call either: a consumer poll stores the consumer's
// position, and listen makes the caller a destination of the application.
var writingReads = map[string]bool{
	"GET /api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}": true,
	"GET /api/v1/app/{app_id}/listen":                                  true,
}

var errReadOnly = herald.Errorf(herald.EFORBIDDEN, "This token is read-only; it cannot make changes")

// readOnlyAllows says whether a read-only token may make request r: reads,
// and logout, which only ends the token itself.
func readOnlyAllows(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return !writingReads[r.Pattern]
	}
	return r.Pattern == "POST /api/v1/auth/logout"
}

// tokenLookupTimeout bounds the store's lookup of a bearer token, which
// runs on a context the client cannot cancel (see authenticateLimited).
const tokenLookupTimeout = 5 * time.Second

// errTokenLookup marks a failed lookup of a bearer token in the store.
var errTokenLookup = errors.New("token lookup")

// errInvalidToken refuses a bearer token that is neither the admin token
// nor a stored one: a guess, which authenticateLimited counts.
var errInvalidToken = herald.Errorf(herald.EUNAUTHORIZED, "Invalid token")

// authenticateLimited is authenticate behind the limit on failed
// authentications per client (the peer, or behind a trusted proxy the
// client it forwards), so that an admin token a person chose cannot be
// guessed at network speed: a client that failed too often is answered
// 429 with Retry-After before its token is even read, so the answer never
// tells a right guess from a wrong one. A token that is not shown to
// exist spends the budget: one that matches none (errInvalidToken), and
// one whose lookup failed (errTokenLookup), since a guess whose answer
// differs from a right token's must be paid for whatever the reason. The
// lookup runs on a context the client cannot cancel: a client that hung
// up at once would otherwise have every wrong guess fail as a canceled
// lookup, uncharged, while the admin token, compared before any lookup,
// still got its own answer. Successful calls, and refusals that guess
// nothing (no or a malformed Authorization header, an expired token, a
// read-only token writing), spend nothing, a token sent again is charged
// once (authlimit.Limiter.Fail), and correct clients never wait on one
// another (authlimit.Limiter.Allow). Wrong tokens are logged,
// rate-limited, never with the token.
//
// The budget is checked again once authenticate returns, before its
// answer is given: it may have waited on the store, and wrong tokens sent
// at once would all have passed the first check while waiting, each
// answered, and left a debt that holds back a correct client behind the
// same address. Between the second check and the charge nothing waits.
func (s *Server) authenticateLimited(c *call) (principal, error) {
	client := s.proxies.Client(c.r)
	key := authlimit.ClientKey("", client)
	if err := s.checkFailures(c, key, client, c.now); err != nil {
		return principal{}, err
	}
	who, err := s.authenticate(c.ctx, c.r)
	now := s.now()
	if err := s.checkFailures(c, key, client, now); err != nil {
		return principal{}, err
	}
	if !errors.Is(err, errInvalidToken) && !errors.Is(err, errTokenLookup) {
		return who, err
	}
	s.failures.Fail(key, c.r.Header.Get("Authorization"), now)
	if s.failures.Log(key, now) {
		s.log.LogAttrs(c.ctx, slog.LevelWarn, "api: failed authentication",
			slog.String("client", client.String()), slog.String("remote", c.r.RemoteAddr), slog.String("route", c.route))
	}
	return who, err
}

// checkFailures refuses a client whose failed authentications have spent
// its budget: 429 with Retry-After, logged at most once per client every
// few seconds.
func (s *Server) checkFailures(c *call, key authlimit.Key, client netip.Addr, now time.Time) error {
	wait, ok := s.failures.Allow(key, now)
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	if s.failures.Log(key, now) {
		s.log.LogAttrs(c.ctx, slog.LevelWarn, "api: too many failed authentications",
			slog.String("client", client.String()), slog.String("remote", c.r.RemoteAddr), slog.Int("retry_after", secs))
	}
	c.w.Header().Set("Retry-After", strconv.Itoa(secs))
	return herald.Errorf(herald.ERATELIMIT, "Too many failed authentications from this address; retry in %d s", secs)
}

// authenticate checks the bearer token of r.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, herald.Errorf(herald.EUNAUTHORIZED, "Missing Authorization header; send 'Authorization: Bearer <token>'")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return principal{}, herald.Errorf(herald.EUNAUTHORIZED, "Invalid Authorization header; send 'Authorization: Bearer <token>'")
	}
	sum := sha256.Sum256([]byte(token))
	if s.adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.adminToken)) == 1 {
		return principal{admin: true, hash: sum[:]}, nil
	}
	// On a context the client cannot cancel (see authenticateLimited);
	// the admin token, compared above, needs none.
	lookup, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenLookupTimeout)
	defer cancel()
	t, err := s.store.GetToken(lookup, sum[:])
	switch {
	case errors.Is(err, herald.ErrNotFound):
		return principal{}, errInvalidToken
	case err != nil:
		return principal{}, fmt.Errorf("%w: %w", errTokenLookup, err)
	}
	if !t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt) {
		return principal{}, herald.Errorf(herald.EUNAUTHORIZED, "The token has expired")
	}
	// Checked here, for every route, so a route added later cannot forget it.
	if t.Kind == store.TokenKindPortalReadOnly && !readOnlyAllows(r) {
		return principal{}, errReadOnly
	}
	return principal{admin: t.AppID == "", appID: t.AppID, hash: sum[:], stored: true}, nil
}

// newToken returns a random token: prefix + 32 random bytes, URL-safe.
func newToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

type appPortalAccessIn struct {
	Application  *applicationIn `json:"application"`
	FeatureFlags []string       `json:"featureFlags"`
	Expiry       *int64         `json:"expiry"` // seconds
	ReadOnly     *bool          `json:"readOnly"`
}

type appPortalAccessOut struct {
	Token string `json:"token"`
	URL   string `json:"url"`
}

// appPortalAccess creates a token scoped to one application and the URL of
// the consumer portal that uses it. Like Svix, it creates the application
// first when the body carries one and the path names none that exists.
// With readOnly the token may only read (see readOnlyAllows).
func (s *Server) appPortalAccess(c *call) error {
	var in appPortalAccessIn
	if b, err := s.readBody(c.w, c.r); err != nil {
		return err
	} else if len(strings.TrimSpace(string(b))) > 0 {
		if err := decodeJSON(b, &in); err != nil {
			return err
		}
	}
	for _, f := range in.FeatureFlags {
		if err := checkName("featureFlags", f, 256); err != nil {
			return err
		}
	}
	ttl := s.portalTTL
	if in.Expiry != nil {
		if *in.Expiry < 1 || *in.Expiry > 7*24*3600 {
			return invalidBody("expiry", "expiry must be between 1 and 604800 seconds")
		}
		ttl = secondsDuration(*in.Expiry)
	}
	app := c.app
	if app == nil {
		var err error
		if app, err = s.createMessageApp(c, in.Application); err != nil {
			return err
		}
	}
	kind := store.TokenKindPortal
	if in.ReadOnly != nil && *in.ReadOnly {
		kind = store.TokenKindPortalReadOnly
	}
	token := newToken(portalTokenPrefix)
	sum := sha256.Sum256([]byte(token))
	err := s.store.CreateToken(c.ctx, &store.Token{
		Hash:      sum[:],
		AppID:     app.ID,
		Kind:      kind,
		CreatedAt: c.now,
		ExpiresAt: c.now.Add(ttl),
	})
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, appPortalAccessOut{Token: token, URL: s.portalURL + "#key=" + token})
}

// logout deletes the calling token.
func (s *Server) logout(c *call) error {
	if !c.who.stored {
		return herald.Errorf(herald.EBADREQUEST, "The configured admin token cannot be logged out")
	}
	if err := s.store.DeleteToken(c.ctx, c.who.hash); err != nil && !errors.Is(err, herald.ErrNotFound) {
		return err
	}
	return c.noContent(http.StatusNoContent)
}
