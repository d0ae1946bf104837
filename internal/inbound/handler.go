package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/clientip"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Sources is what the ingest handler reads of the store.
type Sources interface {
	GetSource(ctx context.Context, idOrUID string) (*store.Source, error)
}

// Publisher stores an inbound event and forwards it: the delivery engine.
type Publisher interface {
	// PublishInbound stores ev and, unless it is a duplicate, msg with its
	// deliveries, in one transaction, and returns once they are durable.
	PublishInbound(ctx context.Context, ev *store.InboundEvent, msg *herald.Message) (duplicate bool, err error)
}

// HandlerConfig configures NewHandler. Zero values are documented
// defaults.
type HandlerConfig struct {
	// Sources finds the source a request names. Required.
	Sources Sources
	// Publisher stores and forwards accepted events. Required.
	Publisher Publisher
	// PublicURL is the scheme and host providers call, e.g.
	// "https://hooks.example.com", used to rebuild the URL Twilio signs.
	// Empty: taken from the request's Host, with the scheme it arrived on
	// or, from a trusted proxy, its X-Forwarded-Proto.
	PublicURL string
	// Logger receives one line per refused request (rate-limited) and
	// store failures; nil discards them. Secrets are never logged.
	Logger *slog.Logger
	// Registry, when set, receives herald_inbound_refused_total and
	// herald_inbound_events_total.
	Registry prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SourceCacheTTL is how long a looked-up source and its verifier are
	// reused; 0 means 2 seconds, negative disables the cache. A changed
	// source (a rotated secret) applies after at most this long.
	SourceCacheTTL time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, so that behind them a source's allowedIps are checked
	// against, and an event records, the provider's address rather than
	// the proxy's. Empty: none; every request's client is the address it
	// connects from, and its headers are ignored.
	TrustedProxies []netip.Prefix
}

// Handler serves POST /in/{source}: it verifies, deduplicates, stores and
// forwards what providers send. It answers 2xx only once the event is
// durable.
type Handler struct {
	sources   *sourceCache
	pub       Publisher
	publicURL string
	proxies   clientip.Proxies
	log       *slog.Logger
	now       func() time.Time
	limit     *logLimit
	failures  *authlimit.Limiter
	refused   *prometheus.CounterVec
	refusals  refusals
	events    *prometheus.CounterVec
}

// NewHandler returns a handler configured by cfg.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Sources == nil || cfg.Publisher == nil {
		return nil, errors.New("inbound handler: Sources and Publisher are required")
	}
	h := &Handler{
		pub:       cfg.Publisher,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		proxies:   clientip.NewProxies(cfg.TrustedProxies),
		log:       cfg.Logger,
		now:       cfg.Now,
		limit:     newLogLimit(10 * time.Second),
		failures:  authlimit.New(authlimit.Config{}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_inbound_refused_total",
			Help: "Inbound requests refused, by source and reason; nothing of them is stored.",
		}, []string{"source", "reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_inbound_events_total",
			Help: "Inbound events stored, by source and status (accepted, duplicate).",
		}, []string{"source", "status"}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	ttl := cfg.SourceCacheTTL
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	h.sources = newSourceCache(cfg.Sources, ttl, h.now)
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{h.refused, h.events} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("inbound handler: register metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Reasons a request is refused, as the refused counter labels them.
const (
	reasonMissing   = "missing_signature"
	reasonMalformed = "malformed_signature"
	reasonBad       = "bad_signature"
	reasonStale     = "stale"
	reasonIP        = "ip_not_allowed"
	reasonTooLarge  = "too_large"
	// reasonTooManyFailures: the client sent wrong secrets to this
	// source too often lately, and was refused before being verified.
	reasonTooManyFailures = "too_many_failures"
)

// ingestResponse is the body of a 200 answer.
type ingestResponse struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// ServeHTTP handles one request to /in/{source}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Providers must POST to an ingest URL")
		return
	}
	// A source is named by its ID or uid, both identifiers: anything else
	// (NUL, invalid UTF-8, which PostgreSQL refuses as a value) names none,
	// and must not reach the store as a lookup that fails.
	name := strings.TrimPrefix(r.URL.Path, "/in/")
	if !herald.ValidName(name, 256) {
		writeError(w, http.StatusNotFound, herald.ENOTFOUND, "No such source")
		return
	}
	ctx := r.Context()
	cached, err := h.sources.get(ctx, name)
	var bad *badVerifierError
	switch {
	case errors.As(err, &bad):
		if h.limit.allow(cached.src.ID+"/verifier", h.now()) {
			h.log.Error("source has an unusable verifier", slog.String("source_id", cached.src.ID), slog.Any("error", err))
		}
		writeError(w, http.StatusInternalServerError, herald.EINTERNAL, "The source's verifier is not usable")
		return
	case err != nil:
		h.storeError(w, err, "get source", name)
		return
	}
	src, ver, cfg := cached.src, cached.ver, cached.cfg
	from := h.origin(r)
	if !allowed(src.AllowedIPs, from.client) {
		h.refuse(w, src, reasonIP, from, http.StatusForbidden, herald.EFORBIDDEN, "This address may not post to this source")
		return
	}
	if ver.limitsGuesses() && !h.checkSecret(w, r, src, ver, from) {
		return
	}
	body, err := readBody(w, r, src.MaxBodyBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, src, reasonTooLarge, from, http.StatusRequestEntityTooLarge, herald.ETOOLARGE,
				fmt.Sprintf("The body exceeds this source's limit of %d bytes", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, herald.EBADREQUEST, "Could not read the request body")
		return
	}
	res, err := ver.Verify(&Request{Method: r.Method, URL: h.externalURL(r, from), Header: r.Header, Body: body})
	if err != nil {
		if !IsRefused(err) {
			// A fault, not a refusal; still rate-limited, since whoever
			// knows the ingest URL can repeat the request that caused it.
			if h.limit.allow(src.ID+"/verify", h.now()) {
				h.log.Error("verify inbound request", slog.String("source_id", src.ID), slog.Any("error", err))
			}
			writeError(w, http.StatusInternalServerError, herald.EINTERNAL, "Could not verify the request")
			return
		}
		h.refuse(w, src, refusalReason(err), from, http.StatusUnauthorized, herald.EUNAUTHORIZED, err.Error())
		return
	}
	if res.Challenge != nil {
		w.Header().Set("Content-Type", res.Challenge.ContentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Challenge.Body)
		return
	}
	h.accept(w, r, src, cfg, res, body, from.client)
}

// checkSecret checks the secret a request to a source that limits
// guesses carries (Verifier.limitsGuesses), before its body is read, and
// reports whether the request may go on; if not, it has answered.
//
// A client that keeps sending wrong secrets is refused before its secret
// is checked, so that one a person chose cannot be guessed at network
// speed. The budget is per source and client: a source with a wrong
// secret does not hold back a sender's requests to the others. Only a
// secret that matches none of the source's (ErrBadSignature) spends it: a
// missing or malformed one tells nothing about them. Nothing waits
// between the check of the budget and the charge of a failure, a body
// least of all: a client holding many requests open would otherwise have
// them all pass the check first, each answered, and build a debt that
// holds back a correct client behind the same address.
func (h *Handler) checkSecret(w http.ResponseWriter, r *http.Request, src *store.Source, ver *Verifier, from origin) bool {
	key := authlimit.ClientKey(src.ID, from.client)
	if wait, ok := h.failures.Allow(key, h.now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.refuse(w, src, reasonTooManyFailures, from, http.StatusTooManyRequests, herald.ERATELIMIT,
			fmt.Sprintf("Too many requests from this address failed verification; retry in %d s", secs))
		return false
	}
	err := ver.verifySecret(r.Header)
	if err == nil {
		return true
	}
	if errors.Is(err, ErrBadSignature) {
		h.failures.Fail(key, ver.presentedSecret(r.Header), h.now())
	}
	h.refuse(w, src, refusalReason(err), from, http.StatusUnauthorized, herald.EUNAUTHORIZED, err.Error())
	return false
}

// accept stores a verified event and answers once it is durable.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, src *store.Source, cfg VerifierConfig, res Result, body []byte, addr netip.Addr) {
	now := h.now()
	ev := &store.InboundEvent{
		ID:          herald.NewID(herald.PrefixInbound, now),
		SourceID:    src.ID,
		ReceivedAt:  now,
		DedupeKey:   res.DedupeKey,
		DedupeUntil: now.Add(src.DedupeWindow),
		EventType:   res.EventType,
		Body:        body,
		Headers:     KeptHeaders(r.Header, cfg),
	}
	if src.EventType != "" {
		ev.EventType = src.EventType
	}
	if addr.IsValid() {
		ev.RemoteAddr = addr.String()
	}
	dup, err := h.pub.PublishInbound(r.Context(), ev, ForwardedMessage(src, ev, now))
	if err != nil {
		h.storeError(w, err, "store inbound event", src.ID)
		return
	}
	h.events.WithLabelValues(src.ID, string(ev.Status)).Inc()
	b, _ := json.Marshal(ingestResponse{ID: ev.ID, Duplicate: dup})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// refuse answers a refused request, counts it and logs it, rate-limited.
// Nothing of the request is stored. The log's remote_addr is the client;
// proxy_addr, only when they differ, the peer that forwarded it.
func (h *Handler) refuse(w http.ResponseWriter, src *store.Source, reason string, from origin, status int, code, detail string) {
	h.refused.WithLabelValues(src.ID, reason).Inc()
	h.refusals.add(src.ID, reason, h.now())
	if h.limit.allow(src.ID+"/"+reason, h.now()) {
		attrs := []any{slog.String("source_id", src.ID), slog.String("reason", reason), slog.String("remote_addr", from.client.String())}
		if from.peer != from.client {
			attrs = append(attrs, slog.String("proxy_addr", from.peer.String()))
		}
		h.log.Warn("inbound request refused", append(attrs, slog.String("detail", detail))...)
	}
	writeError(w, status, code, detail)
}

// storeError answers a failed store call: 404 for a missing source, 503
// when the store cannot take the event, 500 otherwise.
func (h *Handler) storeError(w http.ResponseWriter, err error, what, source string) {
	switch {
	case errors.Is(err, herald.ErrNotFound):
		writeError(w, http.StatusNotFound, herald.ENOTFOUND, "No such source")
	case errors.Is(err, herald.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		if h.limit.allow("unavailable", h.now()) {
			h.log.Error(what, slog.String("source_id", source), slog.Any("error", err))
		}
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, herald.EUNAVAILABLE, "The event could not be stored; retry later")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, herald.EUNAVAILABLE, "The request was canceled")
	default:
		if h.limit.allow("error/"+what, h.now()) {
			h.log.Error(what, slog.String("source_id", source), slog.Any("error", err))
		}
		writeError(w, http.StatusInternalServerError, herald.EINTERNAL, "The event could not be stored")
	}
}

func refusalReason(err error) string {
	switch {
	case errors.Is(err, ErrMissingSignature):
		return reasonMissing
	case errors.Is(err, ErrMalformedSignature):
		return reasonMalformed
	case errors.Is(err, ErrStale):
		return reasonStale
	}
	return reasonBad
}

// bodyPresize is the most readBody allocates for a body before its bytes
// arrive.
const bodyPresize = 64 << 10

// readBody reads the whole body, at most limit bytes (DefaultMaxBodyBytes
// when limit is not positive).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 {
		// Anyone may announce a length and then stall, before any check:
		// allocate at most bodyPresize up front, and grow, doubling up to
		// n, only as bytes arrive.
		body := make([]byte, 0, min(n, bodyPresize))
		for {
			m, err := io.ReadFull(rd, body[len(body):min(int64(cap(body)), n)])
			body = body[:len(body)+m]
			if err != nil || int64(len(body)) == n {
				return body, err
			}
			body = slices.Grow(body, int(min(n, 2*int64(len(body))))-len(body))
		}
	}
	body, err := io.ReadAll(rd)
	if body == nil && err == nil {
		body = []byte{}
	}
	return body, err
}

// externalURL is the URL the provider called, as it saw it. The scheme
// is the one the request arrived on unless a trusted proxy (from.peer)
// says in X-Forwarded-Proto which one the provider used: anyone else
// could choose the URL a signature is checked against.
func (h *Handler) externalURL(r *http.Request, from origin) string {
	if h.publicURL != "" {
		return h.publicURL + r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); (p == "https" || p == "http") && h.proxies.Trusts(from.peer) {
		scheme = p
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// origin is where a request came from.
type origin struct {
	// client is the address allowedIps are checked against and an event
	// records: the peer, or behind a trusted proxy the client it forwards.
	client netip.Addr
	// peer is the address that connected (remoteAddr).
	peer netip.Addr
}

// origin returns r's origin. Only a peer that is a trusted proxy has its
// X-Forwarded-For read; any other is its own client, parsed by remoteAddr
// as it always was, so without trusted proxies nothing changes.
func (h *Handler) origin(r *http.Request) origin {
	peer := remoteAddr(r)
	if !h.proxies.Trusts(peer) {
		return origin{client: peer, peer: peer}
	}
	return origin{client: h.proxies.Client(r), peer: peer}
}

// remoteAddr is the peer's IP address; invalid when it cannot be parsed.
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	// A zone (fe80::1%eth0) would keep the address out of every prefix.
	return addr.Unmap().WithZone("")
}

// allowed reports whether addr is in one of the CIDRs; an empty list
// allows every address. Invalid CIDRs (rejected when the source is saved)
// allow nothing.
func allowed(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, c := range cidrs {
		if p, err := ParseCIDR(c); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseCIDR parses an allowedIps entry: a CIDR, or a single address.
func ParseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// writeError answers with Herald's JSON error body.
func writeError(w http.ResponseWriter, status int, code, detail string) {
	b, _ := json.Marshal(struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}{code, detail})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
