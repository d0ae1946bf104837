package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/authlimit"
	"github.com/heraldhq/herald/internal/clientip"
	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/internal/listen"
	"github.com/heraldhq/herald/internal/opevent"
	"github.com/heraldhq/herald/internal/retention"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/ui"
)

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
	unlock func() // releases the data directory lock

	// metrics serves /metrics on --metrics-addr (metricsAddr, the address
	// actually listened on); nil without it.
	metrics       *http.Server
	metricsAddr   string
	metricsServed chan error

	// httpGrace bounds how long stop waits for HTTP requests in progress
	// before it drops their connections.
	httpGrace time.Duration

	stopOnce sync.Once
	stopErr  error
}

// stepTimeout bounds each shutdown step other than the engine's, which
// --shutdown-timeout bounds: every step gets its own budget, so a slow one
// cannot eat the next one's.
const stepTimeout = 5 * time.Second

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
	allow, err := parsePrefixes("--allow-network", cfg.allowNetworks)
	if err != nil {
		return nil, err
	}
	trusted, err := parseTrustedProxies(cfg.trustedProxies)
	if err != nil {
		return nil, err
	}
	policy, err := parseSchedule(cfg.retrySchedule)
	if err != nil {
		return nil, err
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
	if err := cfg.check(); err != nil {
		return nil, err
	}
	keys, err := cfg.enc.keyring()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.dataDir)
	if err != nil {
		return nil, fmt.Errorf("%w; give each node its own --data-dir", err)
	}
	undo = append(undo, unlock)
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
	if keys == nil {
		logger.Warn("endpoint and source secrets are stored unencrypted; set --encryption-key (generate one with `herald keygen`)")
	} else {
		// The id names the key in sealed values; it reveals nothing of it.
		logger.Info("secrets at rest are encrypted", "encryption_key_id", keys.PrimaryID())
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
	// Every part keeps the engine's clock: on PostgreSQL, the database's
	// (delivery/clock.go), so the times the API writes (a resend's, a
	// recover's) agree with those the engine's claims compare.
	var engine *delivery.Engine
	now := func() time.Time { return engine.Now() }
	hub := listen.NewHub(listen.Config{Store: st, Logger: logger, Events: endpointEvents, Now: now})
	engine, err = delivery.New(delivery.Config{
		Listen:              hub,
		Store:               st,
		NodeID:              nodeID,
		LeaseDuration:       cfg.leaseDuration,
		EndpointConcurrency: cfg.endpointConc,
		HostConnections:     cfg.hostConns,
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
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			return nil, fmt.Errorf("listen on --metrics-addr: %w", err)
		}
		undo = append(undo, func() { metricsLn.Close() })
	}
	publicURL := cfg.publicURL
	if publicURL == "" {
		scheme := "http://"
		if cfg.tlsCert != "" {
			scheme = "https://"
		}
		publicURL = scheme + strings.Replace(addr, "[::]", "localhost", 1)
	}
	// One budget of failed authentications per client for the admin
	// token, wherever it is tried: the API, the dashboard's login, /metrics.
	failures := authlimit.New(authlimit.Config{})
	apiServer := api.New(api.Config{
		Store:          st,
		Publisher:      engine,
		Events:         endpointEvents,
		Listener:       hub,
		AdminToken:     token,
		PortalURL:      strings.TrimRight(publicURL, "/") + "/ui/portal",
		MaxBodyBytes:   cfg.maxBodyBytes,
		RateLimit:      cfg.apiRateLimit,
		RateBurst:      cfg.apiRateBurst,
		AuthFailures:   failures,
		TrustedProxies: trusted,
		Logger:         logger,
		Registry:       reg,
		Now:            now,
	})
	sessionSecret, err := secretFile(cfg.dataDir, "session-secret", cfg.sessionSecret)
	if err != nil {
		return nil, err
	}
	ingest, err := inbound.NewHandler(inbound.HandlerConfig{
		Sources:        st,
		Publisher:      engine,
		PublicURL:      cfg.publicURL,
		TrustedProxies: trusted,
		Logger:         logger,
		Registry:       reg,
		Now:            now,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	dashboard, err := ui.New(ui.Config{
		Store:          st,
		Engine:         engine,
		Inbound:        ingest,
		AdminToken:     token,
		SessionSecret:  []byte(sessionSecret),
		SecureCookies:  cfg.secureCookies,
		TrustedProxies: trusted,
		LoginFailures:  failures,
		Events:         endpointEvents,
		Logger:         logger,
		Now:            now,
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	guard := metricsGuard{failures: failures, proxies: clientip.NewProxies(trusted), now: now, log: logger}
	guard.token, guard.scope = metricsToken(cfg, token)
	mux := http.NewServeMux()
	mux.Handle("/api/", apiServer.Handler())
	mux.Handle("/in/", ingest)
	mux.Handle("/ui/", dashboard.Handler())
	mux.Handle("/ui", dashboard.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	var metricsMux *http.ServeMux
	if metricsLn != nil {
		metricsMux = http.NewServeMux()
		metricsMux.Handle("GET /metrics", guard.handler(reg))
	} else {
		mux.Handle("GET /metrics", guard.handler(reg))
	}

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
		addr:      addr,
		engine:    engine,
		expiry:    expiry,
		ops:       ops,
		hub:       hub,
		store:     st,
		logger:    logger,
		cfg:       cfg,
		served:    make(chan error, 1),
		unlock:    unlock,
		httpGrace: stepTimeout,
		http:      newHTTPServer(mux, cfg, logger),
	}
	if cfg.tlsCert != "" {
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	go func() { s.served <- s.http.Serve(ln) }()
	logger.Info("herald listening", "addr", addr, "version", version, "store", storeKind(cfg))
	if metricsLn != nil {
		s.startMetrics(metricsLn, metricsMux)
		logger.Info("metrics listening", "addr", s.metricsAddr, "token", guard.token != "")
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 { // -1 reads it
		logger.Info("soft memory limit", "mib", limit>>20)
	}
	return s, nil
}

// newHTTPServer returns the server of a listener. Slow clients cannot
// hold connections open: headers must arrive within --read-header-timeout,
// the whole request within a minute, and headers are capped at 64 KiB
// (431).
func newHTTPServer(h http.Handler, cfg serveConfig, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.headerTimeout,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// stop shuts down in order: stop accepting HTTP (and the metrics
// listener), stop retention, stop the engine (which stops claiming, lets
// in-flight sends finish, cancels, releases leases), publish the
// operational events the API and the engine emitted until then, close the
// store, then release the data directory. Each step has its own deadline.
// Calling stop again returns the first call's result.
func (s *server) stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown() })
	return s.stopErr
}

func (s *server) shutdown() error {
	var errs []error
	// Requests still in progress after httpGrace (a client trickling its
	// body may take the whole read timeout) are dropped, rather than
	// holding up the engine's shutdown.
	httpCtx, cancel := context.WithTimeout(context.Background(), s.httpGrace)
	if err := s.http.Shutdown(httpCtx); err != nil {
		s.logger.Warn("closing HTTP connections still busy at shutdown", "grace", s.httpGrace)
		if err := s.http.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close http: %w", err))
		}
	}
	cancel()
	if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	if err := s.stopMetrics(); err != nil {
		errs = append(errs, err)
	}
	if s.expiry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		if err := s.expiry.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	engineCtx, cancelEngine := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
	if err := s.engine.Stop(engineCtx); err != nil {
		errs = append(errs, fmt.Errorf("stop delivery: %w", err))
	}
	cancelEngine()
	if s.ops != nil {
		// Publishing after the engine stopped stores the events' deliveries
		// unleased: another node, or this one after a restart, sends them.
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		if err := s.ops.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	// Listen sessions are hijacked connections that Shutdown does not wait
	// for. They stay open while the engine finishes in-flight sends, then
	// close so their CLIs reconnect (elsewhere, or here after a restart).
	s.hub.Close()
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	s.unlock()
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
