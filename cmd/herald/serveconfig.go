package main

import (
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/internal/opevent"
	"github.com/heraldhq/herald/internal/retention"
)

// serveConfig is everything `herald serve` is configured with.
// maxPGConns bounds --pg-max-conns: the pool's size is an int32, and no
// PostgreSQL server takes more connections than this by default anyway.
const maxPGConns = 10000

type serveConfig struct {
	addr            string
	dataDir         string
	database        string
	adminToken      string
	publicURL       string
	allowNetworks   listFlag
	trustedProxies  listFlag
	logFormat       string
	logLevel        string
	maxBodyBytes    int64
	timeout         time.Duration
	retrySchedule   string
	svixHeaders     bool
	shutdownTimeout time.Duration
	headerTimeout   time.Duration
	pgMaxConns      int // 1..maxPGConns
	pgStmtTimeout   time.Duration
	leaseDuration   time.Duration
	endpointConc    int
	hostConns       int
	apiRateLimit    float64
	apiRateBurst    int
	tlsCert         string
	tlsKey          string
	sessionSecret   string
	secureCookies   bool
	retention       time.Duration
	operationalURL  string
	inboundAge      time.Duration
	enc             encryptionFlags
	circuitFailures int
	circuitCooldown time.Duration
	circuitMaxCool  time.Duration
	metricsToken    string
	metricsAddr     string
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", ":8080", "listen address")
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir(), "directory for the SQLite database and the generated admin token")
	fs.StringVar(&c.database, "database", "", "PostgreSQL URL (postgres://...); empty means SQLite in --data-dir")
	fs.StringVar(&c.adminToken, "admin-token", "", "admin API token; generated and stored in --data-dir when empty")
	fs.StringVar(&c.publicURL, "public-url", "", "the URL users reach this server at, for links (default http://<addr>)")
	fs.Var(&c.allowNetworks, "allow-network", "CIDR that deliveries may reach despite the SSRF guard (repeatable)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", 1<<20, "largest API request body accepted")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Second, "delivery request timeout (1s to 30s)")
	fs.StringVar(&c.retrySchedule, "retry-schedule", "", "comma-separated delays between attempts (default 5s,5m,30m,2h,5h,10h,10h)")
	fs.BoolVar(&c.svixHeaders, "svix-headers", false, "sign deliveries with svix-* header names instead of webhook-*")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight deliveries may finish at shutdown")
	fs.DurationVar(&c.headerTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers; a slower one is disconnected")
	fs.IntVar(&c.pgMaxConns, "pg-max-conns", 10, "PostgreSQL connection pool size")
	fs.DurationVar(&c.pgStmtTimeout, "pg-statement-timeout", 5*time.Second, "PostgreSQL statement timeout")
	fs.StringVar(&c.sessionSecret, "session-secret", "", "key that signs dashboard sessions; nodes behind one load balancer must share it (default: generated in --data-dir)")
	fs.BoolVar(&c.secureCookies, "secure-cookies", false, "mark dashboard cookies Secure (behind a TLS-terminating proxy)")
	fs.Var(&c.trustedProxies, "trusted-proxies", "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For names the client, for the limits on failed logins and authentications and sources' allowedIps behind them (repeatable; default none)")
	fs.Float64Var(&c.apiRateLimit, "api-rate-limit", 0, "API requests per second allowed per token, answered 429 with Retry-After beyond it; 0 means no limit")
	fs.IntVar(&c.apiRateBurst, "api-rate-burst", 0, "API requests a token may make at once (default twice --api-rate-limit)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM); needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.IntVar(&c.endpointConc, "endpoint-concurrency", delivery.DefaultEndpointConcurrency, "requests in flight to one endpoint at most, split between the nodes")
	fs.IntVar(&c.hostConns, "host-connections", delivery.DefaultHostConnections, "HTTP/1.1 connections to one host at most, across its endpoints; sends beyond wait for one")
	fs.DurationVar(&c.leaseDuration, "lease-duration", time.Minute, "how long a node holds deliveries before another node may take them over")
	fs.DurationVar(&c.retention, "retention-interval", time.Hour, "how often expired messages are deleted with their attempts; 0 disables")
	fs.StringVar(&c.operationalURL, "operational-webhook-url", "", "URL that receives operational webhooks (endpoint.*, message.attempt.*), signed with the secret of endpoint \"operator\" in application \"herald-operational\"")
	fs.DurationVar(&c.inboundAge, "inbound-retention", retention.DefaultInboundAge, "how long received inbound events are kept (at least the longest dedupe window, 720h)")
	c.enc.flags(fs)
	fs.IntVar(&c.circuitFailures, "circuit-failures", delivery.DefaultCircuitFailures, "consecutive failed attempts that open an endpoint's circuit, holding its deliveries back until a probe succeeds; 0 disables")
	fs.DurationVar(&c.circuitCooldown, "circuit-cooldown", delivery.DefaultCircuitCooldown, "how long an open circuit waits before its probe; doubles after each failed probe")
	fs.DurationVar(&c.circuitMaxCool, "circuit-max-cooldown", delivery.DefaultCircuitMaxCooldown, "the longest an open circuit waits before its probe (at least --circuit-cooldown)")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "bearer token /metrics requires (default: the admin token on the public listener, none on --metrics-addr)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics on this address (plain HTTP, for a private network) instead of on --addr")
}

func flagSet(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs)
	return fs
}

// check refuses settings that are out of range on their own; settings
// that need parsing (networks, schedule, keys, TLS files) are checked where
// they are parsed.
func (c *serveConfig) check() error {
	if c.timeout < time.Second || c.timeout > 30*time.Second {
		return fmt.Errorf("--timeout must be between 1s and 30s, got %s", c.timeout)
	}
	if c.retention < 0 {
		return fmt.Errorf("--retention-interval must not be negative, got %s", c.retention)
	}
	if c.inboundAge < inbound.MaxDedupeWindow {
		return fmt.Errorf("--inbound-retention must be at least %s, the longest dedupe window, got %s", inbound.MaxDedupeWindow, c.inboundAge)
	}
	if c.shutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout must not be negative, got %s", c.shutdownTimeout)
	}
	if c.headerTimeout <= 0 {
		return fmt.Errorf("--read-header-timeout must be positive, got %s", c.headerTimeout)
	}
	if c.circuitCooldown <= 0 || c.circuitMaxCool <= 0 {
		return fmt.Errorf("--circuit-cooldown and --circuit-max-cooldown must be positive, got %s and %s", c.circuitCooldown, c.circuitMaxCool)
	}
	if c.endpointConc < 1 {
		return fmt.Errorf("--endpoint-concurrency must be at least 1, got %d", c.endpointConc)
	}
	if c.leaseDuration < time.Second {
		return fmt.Errorf("--lease-duration must be at least 1s, got %s", c.leaseDuration)
	}
	if math.IsNaN(c.apiRateLimit) || math.IsInf(c.apiRateLimit, 0) || c.apiRateLimit < 0 || c.apiRateBurst < 0 {
		return fmt.Errorf("--api-rate-limit and --api-rate-burst must be finite and not negative, got %v and %d", c.apiRateLimit, c.apiRateBurst)
	}
	if c.maxBodyBytes < 1 {
		return fmt.Errorf("--max-body-bytes must be at least 1, got %d", c.maxBodyBytes)
	}
	if c.hostConns < 1 {
		return fmt.Errorf("--host-connections must be at least 1, got %d", c.hostConns)
	}
	if c.pgMaxConns < 1 || c.pgMaxConns > maxPGConns {
		return fmt.Errorf("--pg-max-conns must be between 1 and %d, got %d", maxPGConns, c.pgMaxConns)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, got %q", c.logFormat)
	}
	if c.operationalURL != "" {
		if err := opevent.CheckURL(c.operationalURL); err != nil {
			return fmt.Errorf("--operational-webhook-url: %w", err)
		}
	}
	return nil
}
