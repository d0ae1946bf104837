package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Store is the part of store.Store the engine uses.
type Store interface {
	Publish(ctx context.Context, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) error
	ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error)
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error)
	Record(ctx context.Context, results []store.Result) (disabled []string, err error)
	ExtendLeases(ctx context.Context, owner string, deliveries []store.DeliveryKey, until time.Time) error
	ReleaseLeases(ctx context.Context, owner string, deliveries []store.DeliveryKey) error
	DeferLeases(ctx context.Context, owner string, deliveries []store.Deferral) error
	ExpeditePaced(ctx context.Context, appID, endpointID string, now time.Time) (int, error)
	Backlog(ctx context.Context) (int64, error)
	GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error)
	store.Circuits
}

// Config configures an Engine. Every zero value means the documented
// default.
type Config struct {
	// Store is where messages and deliveries live. Required. If it also
	// implements store.Waker, its wake-ups trigger a claim at once.
	Store Store
	// NodeID names this node as the owner of its leases; default random.
	// Keep it stable across restarts only if no other node can use it.
	NodeID string
	// Policy decides retries and auto-disable; its zero value is the default.
	Policy herald.Policy
	// LeaseDuration is how long a claimed delivery stays with this node
	// without a heartbeat; default 5 minutes.
	LeaseDuration time.Duration
	// Timeout bounds each part of a request: connecting, awaiting the
	// response headers once it is sent, and reading the body. 1 to 30
	// seconds; default 15 seconds.
	Timeout time.Duration
	// MaxResponseBody is how much of a response body an attempt keeps;
	// default 64 KiB.
	MaxResponseBody int
	// Workers caps concurrent sends across all endpoints; default 512.
	Workers int
	// EndpointConcurrency caps concurrent sends to one endpoint; default 16.
	EndpointConcurrency int
	// HostConnections caps the HTTP/1.1 connections to one host (scheme,
	// host and port) across all its endpoints; a send beyond it waits for
	// one of them, up to two Timeouts that do not count against the
	// endpoint. Default 64: fewer connections, each kept busy, carry more
	// than one per send (docs/benchmarks.md).
	HostConnections int
	// EndpointQueue is how many deliveries one endpoint may hold in memory
	// before new ones spill back to the database; default 1000.
	EndpointQueue int
	// PollInterval is how often the poller claims due deliveries when
	// nothing wakes it sooner; default 1 second.
	PollInterval time.Duration
	// ClaimBatch is the most deliveries claimed at once; default 256.
	ClaimBatch int
	// MaxHeld caps the deliveries held in memory that claims may add to;
	// default 4×Workers, at least 4096.
	MaxHeld int
	// MaxHeldBytes caps the payload bytes held in memory, counted once per
	// delivery, fresh or claimed; default 256 MiB. Past it, deliveries go
	// back to the database, to be claimed as the queues drain. Without it,
	// slow endpoints, each holding its EndpointQueue of large payloads,
	// could take any amount of memory.
	MaxHeldBytes int
	// EndpointCacheTTL is how long publish reuses an application's endpoint
	// list; default 1 second. InvalidateEndpoints drops it at once.
	EndpointCacheTTL time.Duration
	// ThrottleBackoff is how long an endpoint's queue pauses after it
	// answers 429, 502, 503 or 504, unless its Retry-After asks for longer
	// (up to a minute); default 1 second.
	ThrottleBackoff time.Duration
	// CircuitFailures is how many consecutive failed attempts to an
	// endpoint open its circuit: its deliveries then wait, with no attempt
	// made, until a single probe succeeds. Default 5; negative turns the
	// circuit breaker off.
	CircuitFailures int
	// CircuitCooldown is how long an open circuit waits before its probe;
	// it doubles with each failed probe up to CircuitMaxCooldown. Defaults
	// 30 seconds and 10 minutes.
	CircuitCooldown    time.Duration
	CircuitMaxCooldown time.Duration
	// AllowNetworks lists networks the SSRF guard lets through even though
	// they are loopback, private or otherwise special.
	AllowNetworks []netip.Prefix
	// Resolver looks up endpoint host names; nil means the system's. The
	// SSRF guard judges the address each connection actually uses, so it
	// holds whatever the resolver answers (tests rebind names with it).
	Resolver *net.Resolver
	// SvixHeaders sends svix-id, svix-timestamp and svix-signature instead
	// of the webhook-* headers.
	SvixHeaders bool
	// Listen, when set, carries the attempts of endpoints whose URL has the
	// ListenScheme (herald listen sessions) instead of HTTP. It returns an
	// error wrapping ErrListenerOffline when no session holds the endpoint.
	Listen http.RoundTripper
	// UserAgent is sent with every request; default "Herald-Webhooks/1.0".
	UserAgent string
	// Logger receives the engine's logs; default discards them.
	Logger *slog.Logger
	// Events, when set, hears of every committed batch of attempt results.
	Events Events
	// Registry, when set, receives the engine's metrics.
	Registry prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand returns a uniform number in [0,1) for retry jitter; default
	// math/rand/v2.Float64.
	Rand func() float64
}

// Defaults.
const (
	DefaultLeaseDuration       = 5 * time.Minute
	DefaultTimeout             = 15 * time.Second
	DefaultMaxResponseBody     = 64 << 10
	DefaultWorkers             = 512
	DefaultEndpointConcurrency = 16
	DefaultHostConnections     = 64
	DefaultEndpointQueue       = 1000
	DefaultPollInterval        = time.Second
	DefaultMaxHeldBytes        = 256 << 20
	DefaultClaimBatch          = 256
	DefaultEndpointCacheTTL    = time.Second
	DefaultThrottleBackoff     = time.Second
	DefaultUserAgent           = "Herald-Webhooks/1.0"
	DefaultCircuitFailures     = 5
	DefaultCircuitCooldown     = 30 * time.Second
	DefaultCircuitMaxCooldown  = 10 * time.Minute

	// maxThrottleBackoff bounds how long Retry-After can pause an endpoint.
	maxThrottleBackoff = time.Minute
)

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, errors.New("delivery: config: Store is required")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < time.Second || c.Timeout > 30*time.Second {
		return c, fmt.Errorf("delivery: config: Timeout %v is outside 1s..30s", c.Timeout)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.NodeID == "" {
		c.NodeID = herald.NewID("node_", c.Now())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	setDefault(&c.LeaseDuration, DefaultLeaseDuration)
	setDefault(&c.MaxResponseBody, DefaultMaxResponseBody)
	setDefault(&c.Workers, DefaultWorkers)
	setDefault(&c.EndpointConcurrency, DefaultEndpointConcurrency)
	setDefault(&c.HostConnections, DefaultHostConnections)
	setDefault(&c.EndpointQueue, DefaultEndpointQueue)
	setDefault(&c.PollInterval, DefaultPollInterval)
	setDefault(&c.ClaimBatch, DefaultClaimBatch)
	setDefault(&c.MaxHeld, max(4*c.Workers, 4096))
	setDefault(&c.MaxHeldBytes, DefaultMaxHeldBytes)
	setDefault(&c.EndpointCacheTTL, DefaultEndpointCacheTTL)
	setDefault(&c.ThrottleBackoff, DefaultThrottleBackoff)
	if c.CircuitFailures == 0 {
		c.CircuitFailures = DefaultCircuitFailures
	}
	setDefault(&c.CircuitCooldown, DefaultCircuitCooldown)
	setDefault(&c.CircuitMaxCooldown, max(DefaultCircuitMaxCooldown, c.CircuitCooldown))
	c.CircuitMaxCooldown = max(c.CircuitMaxCooldown, c.CircuitCooldown)
	for _, p := range c.AllowNetworks {
		if !p.IsValid() {
			return c, errors.New("delivery: config: invalid network in AllowNetworks")
		}
	}
	return c, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
