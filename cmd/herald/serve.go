package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/internal/listen"
	"github.com/heraldhq/herald/internal/opevent"
	"github.com/heraldhq/herald/internal/retention"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/ui"
)

// serveConfig is everything `herald serve` is configured with.
type serveConfig struct {
	addr            string
	dataDir         string
	database        string
	adminToken      string
	publicURL       string
	allowNetworks   listFlag
	logFormat       string
	logLevel        string
	maxBodyBytes    int64
	timeout         time.Duration
	retrySchedule   string
	svixHeaders     bool
	shutdownTimeout time.Duration
	headerTimeout   time.Duration
	pgMaxConns      int
	pgStmtTimeout   time.Duration
	leaseDuration   time.Duration
	endpointConc    int
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
	fs.Float64Var(&c.apiRateLimit, "api-rate-limit", 0, "API requests per second allowed per token, answered 429 with Retry-After beyond it; 0 means no limit")
	fs.IntVar(&c.apiRateBurst, "api-rate-burst", 0, "API requests a token may make at once (default twice --api-rate-limit)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM); needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.IntVar(&c.endpointConc, "endpoint-concurrency", delivery.DefaultEndpointConcurrency, "requests in flight to one endpoint at most, split between the nodes")
	fs.DurationVar(&c.leaseDuration, "lease-duration", time.Minute, "how long a node holds deliveries before another node may take them over")
	fs.DurationVar(&c.retention, "retention-interval", time.Hour, "how often expired messages are deleted with their attempts; 0 disables")
	fs.StringVar(&c.operationalURL, "operational-webhook-url", "", "URL that receives operational webhooks (endpoint.*, message.attempt.*), signed with the secret of endpoint \"operator\" in application \"herald-operational\"")
	fs.DurationVar(&c.inboundAge, "inbound-retention", retention.DefaultInboundAge, "how long received inbound events are kept (at least the longest dedupe window, 720h)")
	c.enc.flags(fs)
	fs.IntVar(&c.circuitFailures, "circuit-failures", delivery.DefaultCircuitFailures, "consecutive failed attempts that open an endpoint's circuit, holding its deliveries back until a probe succeeds; 0 disables")
	fs.DurationVar(&c.circuitCooldown, "circuit-cooldown", delivery.DefaultCircuitCooldown, "how long an open circuit waits before its probe; doubles after each failed probe")
	fs.DurationVar(&c.circuitMaxCool, "circuit-max-cooldown", delivery.DefaultCircuitMaxCooldown, "the longest an open circuit waits before its probe (at least --circuit-cooldown)")
}

func flagSet(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs)
	return fs
}

func runServe(ctx context.Context, args []string, env Env) error {
	var cfg serveConfig
	fs := flagSet(&cfg)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	logger, err := newLogger(env, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	s, err := startServer(ctx, cfg, env, logger)
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	return s.stop()
}

// server is a running Herald: HTTP, delivery engine and store, stopped in
// the reverse order they started.
type server struct {
	addr   string // the address actually listened on
	http   *http.Server
	engine *delivery.Engine
	expiry *retention.Job   // nil when retention is disabled
	ops    *opevent.Emitter // nil without --operational-webhook-url
	hub    *listen.Hub
	store  store.Store
	logger *slog.Logger
	cfg    serveConfig
	served chan error
}

func startServer(ctx context.Context, cfg serveConfig, env Env, logger *slog.Logger) (_ *server, err error) {
	// What was opened is closed again, last first, if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	allow, err := parsePrefixes(cfg.allowNetworks)
	if err != nil {
		return nil, err
	}
	policy, err := parseSchedule(cfg.retrySchedule)
	if err != nil {
		return nil, err
	}
	if cfg.timeout < time.Second || cfg.timeout > 30*time.Second {
		return nil, fmt.Errorf("--timeout must be between 1s and 30s, got %s", cfg.timeout)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	var tlsCert tls.Certificate
	if cfg.tlsCert != "" {
		if tlsCert, err = tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey); err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
	}
	if cfg.retention < 0 {
		return nil, fmt.Errorf("--retention-interval must not be negative, got %s", cfg.retention)
	}
	if cfg.inboundAge < inbound.MaxDedupeWindow {
		return nil, fmt.Errorf("--inbound-retention must be at least %s, the longest dedupe window, got %s", inbound.MaxDedupeWindow, cfg.inboundAge)
	}
	if cfg.headerTimeout <= 0 {
		return nil, fmt.Errorf("--read-header-timeout must be positive, got %s", cfg.headerTimeout)
	}
	if cfg.circuitCooldown <= 0 || cfg.circuitMaxCool <= 0 {
		return nil, fmt.Errorf("--circuit-cooldown and --circuit-max-cooldown must be positive, got %s and %s", cfg.circuitCooldown, cfg.circuitMaxCool)
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return nil, fmt.Errorf("--log-format must be text or json, got %q", cfg.logFormat)
	}
	if cfg.operationalURL != "" {
		if err := opevent.CheckURL(cfg.operationalURL); err != nil {
			return nil, fmt.Errorf("--operational-webhook-url: %w", err)
		}
	}
	keys, err := cfg.enc.keyring()
	if err != nil {
		return nil, err
	}
	if keys == nil {
		logger.Warn("endpoint and source secrets are stored unencrypted; set --encryption-key (generate one with `herald keygen`)")
	} else {
		// The id names the key in sealed values; it reveals nothing of it.
		logger.Info("secrets at rest are encrypted", "encryption_key_id", keys.PrimaryID())
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	token, err := adminToken(cfg, env)
	if err != nil {
		return nil, err
	}

	nodeID, err := nodeID(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg, keys, logger)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { st.Close() })
	if err := checkSecretKeys(ctx, st, keys, logger); err != nil {
		return nil, err
	}
	// Deliveries this node held when it last stopped (or crashed) are due
	// again at once, rather than when their lease expires.
	if err := st.ReleaseLeases(ctx, nodeID, nil); err != nil {
		return nil, fmt.Errorf("release leases of the previous run: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Operational webhooks: the API and the engine report to ops, which
	// publishes into the reserved application once the engine runs.
	var (
		ops            *opevent.Emitter
		attemptEvents  delivery.Events
		endpointEvents herald.EndpointEvents
	)
	if cfg.operationalURL != "" {
		if ops, err = operationalEvents(ctx, st, cfg.operationalURL, logger, reg); err != nil {
			return nil, err
		}
		attemptEvents, endpointEvents = ops, ops
	}

	// herald listen sessions: the hub carries their deliveries over
	// WebSockets, and is told by the engine's side when to wake it.
	hub := listen.NewHub(listen.Config{Store: st, Logger: logger})
	engine, err := delivery.New(delivery.Config{
		Listen:              hub,
		Store:               st,
		NodeID:              nodeID,
		LeaseDuration:       cfg.leaseDuration,
		EndpointConcurrency: cfg.endpointConc,
		Policy:              policy,
		Timeout:             cfg.timeout,
		AllowNetworks:       allow,
		SvixHeaders:         cfg.svixHeaders,
		CircuitFailures:     circuitFailures(cfg.circuitFailures),
		CircuitCooldown:     cfg.circuitCooldown,
		CircuitMaxCooldown:  cfg.circuitMaxCool,
		UserAgent:           "Herald/" + version,
		Events:              attemptEvents,
		Logger:              logger,
		Registry:            reg,
	})
	if err != nil {
		return nil, err
	}

	hub.SetEngine(engine)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	undo = append(undo, func() { ln.Close() })
	addr := ln.Addr().String()
	publicURL := cfg.publicURL
	if publicURL == "" {
		scheme := "http://"
		if cfg.tlsCert != "" {
			scheme = "https://"
		}
		publicURL = scheme + strings.Replace(addr, "[::]", "localhost", 1)
	}
	apiServer := api.New(api.Config{
		Store:        st,
		Publisher:    engine,
		Events:       endpointEvents,
		Listener:     hub,
		AdminToken:   token,
		PortalURL:    strings.TrimRight(publicURL, "/") + "/ui/portal",
		MaxBodyBytes: cfg.maxBodyBytes,
		RateLimit:    cfg.apiRateLimit,
		RateBurst:    cfg.apiRateBurst,
		Logger:       logger,
		Registry:     reg,
	})
	sessionSecret, err := secretFile(cfg.dataDir, "session-secret", cfg.sessionSecret)
	if err != nil {
		return nil, err
	}
	ingest, err := inbound.NewHandler(inbound.HandlerConfig{
		Sources:   st,
		Publisher: engine,
		PublicURL: cfg.publicURL,
		Logger:    logger,
		Registry:  reg,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	dashboard, err := ui.New(ui.Config{
		Store:         st,
		Engine:        engine,
		Inbound:       ingest,
		AdminToken:    token,
		SessionSecret: []byte(sessionSecret),
		SecureCookies: cfg.secureCookies,
		Events:        endpointEvents,
		Logger:        logger,
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", apiServer.Handler())
	mux.Handle("/in/", ingest)
	mux.Handle("/ui/", dashboard.Handler())
	mux.Handle("/ui", dashboard.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	var expiry *retention.Job
	if cfg.retention > 0 {
		if expiry, err = retention.New(retention.Config{Store: st, Interval: cfg.retention, InboundAge: cfg.inboundAge, Logger: logger}); err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
	}

	if err := engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start delivery engine: %w", err)
	}
	if ops != nil {
		if err := ops.Start(engine); err != nil {
			return nil, err
		}
	}
	if expiry != nil {
		expiry.Start(ctx)
	}
	s := &server{
		addr:   addr,
		engine: engine,
		expiry: expiry,
		ops:    ops,
		hub:    hub,
		store:  st,
		logger: logger,
		cfg:    cfg,
		served: make(chan error, 1),
		http: &http.Server{
			Handler: mux,
			// Slow clients cannot hold connections open: headers must
			// arrive within --read-header-timeout, the whole request
			// within a minute, and headers are capped at 64 KiB (431).
			ReadHeaderTimeout: cfg.headerTimeout,
			ReadTimeout:       60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
	if cfg.tlsCert != "" {
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	go func() { s.served <- s.http.Serve(ln) }()
	logger.Info("herald listening", "addr", addr, "version", version, "store", storeKind(cfg))
	return s, nil
}

// stop shuts down in order: stop accepting HTTP, stop retention, stop the
// engine (which stops claiming, lets in-flight sends finish, cancels,
// releases leases), publish the operational events the API and the engine
// emitted until then, then close the store.
func (s *server) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout+5*time.Second)
	defer cancel()
	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop http: %w", err))
	}
	if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	if s.expiry != nil {
		if err := s.expiry.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	engineCtx, cancelEngine := context.WithTimeout(ctx, s.cfg.shutdownTimeout)
	if err := s.engine.Stop(engineCtx); err != nil {
		errs = append(errs, fmt.Errorf("stop delivery: %w", err))
	}
	cancelEngine()
	if s.ops != nil {
		// Publishing after the engine stopped stores the events' deliveries
		// unleased: another node, or this one after a restart, sends them.
		if err := s.ops.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Listen sessions are hijacked connections that Shutdown does not wait
	// for. They stay open while the engine finishes in-flight sends, then
	// close so their CLIs reconnect (elsewhere, or here after a restart).
	s.hub.Close()
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	return errors.Join(errs...)
}

// circuitFailures maps --circuit-failures to the engine's setting, where 0
// means the default and a negative number turns the breaker off.
func circuitFailures(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
