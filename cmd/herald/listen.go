package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/listen"
)

// runListen streams an application's deliveries to a local URL over a
// WebSocket the laptop opens outward, so no inbound port or tunnel is
// needed. Each delivery prints one line; Ctrl-C ends the session.
func runListen(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	server := fs.String("server", "", "Herald server URL")
	token := fs.String("token", "", "API token (admin, or the application's)")
	app := fs.String("app", "", "application id or uid")
	source := fs.String("source", "", "receiving source id or uid: listen to the application it forwards to (admin token)")
	forwardTo := fs.String("forward-to", "", "local URL each delivery is posted to, e.g. http://localhost:3000/webhooks")
	events := fs.String("events", "", "comma-separated event types to receive (default: all)")
	name := fs.String("name", "", "session name; reconnecting with the same name resumes its backlog (default: <hostname>-<app>)")
	printSecret := fs.Bool("print-secret", false, "print the signing secret to verify deliveries with")
	maxBackoff := fs.Duration("max-backoff", 30*time.Second, "longest wait between reconnects")
	given, err := parseFlagsGiven(fs, args, env)
	if err != nil {
		return err
	}
	// HERALD_APP (set for herald send, say) must not refuse a --source
	// given here, nor HERALD_SOURCE an --app.
	if given["app"] && !given["source"] {
		*source = ""
	} else if given["source"] && !given["app"] {
		*app = ""
	}
	if err := checkServer(*server); err != nil {
		return err
	}
	switch {
	case *app == "" && *source == "":
		return errors.New("--app or --source is required")
	case *app != "" && *source != "":
		return errors.New("give --app or --source, not both")
	case *forwardTo == "":
		return errors.New("--forward-to is required, e.g. http://localhost:3000/webhooks")
	case *token == "":
		return errors.New("--token (or HERALD_TOKEN) is required")
	}
	if *source != "" {
		src, err := lookupSource(ctx, *server, *token, *source)
		if err != nil {
			return err
		}
		*app = src.AppID
		if *events == "" {
			*events = src.EventType
		}
		fmt.Fprintf(env.Stderr, "Source %s receives at %s and forwards to application %s.\n", src.Name, src.IngestURL, src.AppID)
	}
	if *name == "" {
		host, _ := os.Hostname()
		*name = listen.SanitizeName(strings.Trim(host+"-"+*app, "-"))
	}
	out := &listenOutput{w: env.Stdout, printSecret: *printSecret}
	c, err := listen.NewClient(listen.ClientConfig{
		Server:     *server,
		Token:      *token,
		App:        *app,
		Name:       *name,
		Events:     splitComma(*events),
		ForwardTo:  *forwardTo,
		MaxBackoff: *maxBackoff,
		OnReady:    out.ready,
		OnDelivery: out.delivery,
		Logger:     slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Forwarding deliveries of %s to %s (session %s). Ctrl-C to stop.\n", *app, *forwardTo, *name)
	return c.Run(ctx)
}

// sourceOut is what listen needs of a receiving source.
type sourceOut struct {
	Name      string `json:"name"`
	AppID     string `json:"appId"`
	EventType string `json:"eventType"`
	IngestURL string `json:"ingestUrl"`
}

// lookupSource finds the application a source forwards to.
func lookupSource(ctx context.Context, server, token, idOrUID string) (*sourceOut, error) {
	c, err := newAPIClient(server, token)
	if err != nil {
		return nil, err
	}
	var src sourceOut
	if err := c.do(ctx, "GET", "/api/v1/source/"+url.PathEscape(idOrUID), nil, &src); err != nil {
		return nil, fmt.Errorf("look up source %s: %w", idOrUID, err)
	}
	return &src, nil
}

// listenOutput prints the session's lines; deliveries are forwarded
// concurrently, so lines are written whole under a lock.
type listenOutput struct {
	mu          sync.Mutex
	w           io.Writer
	printSecret bool
	secret      string
}

func (o *listenOutput) ready(r listen.Ready) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "Ready: endpoint %s (%s)\n", r.EndpointID, r.URL)
	if o.printSecret && r.Secret != o.secret {
		fmt.Fprintf(o.w, "Secret: %s\n", r.Secret)
	}
	o.secret = r.Secret
}

func (o *listenOutput) delivery(d listen.Delivery) {
	result := fmt.Sprint(d.Status)
	if d.Error != "" {
		result = "error: " + d.Error
	}
	if d.Attempt > 1 {
		result += fmt.Sprintf(" (attempt %d)", d.Attempt)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%s  %s  %s  %s  %s\n", d.Time.Format("15:04:05"), d.EventType, d.MsgID, result,
		d.Latency.Round(time.Millisecond))
}

// splitComma splits a comma-separated flag value, dropping empty items.
func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
