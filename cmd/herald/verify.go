package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/webhook"
)

// runVerify checks a webhook signature the way a receiver would, so a
// developer can tell a wrong secret from an altered body or a stale
// timestamp without writing code.
func runVerify(_ context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var secrets, headers listFlag
	fs.Var(&secrets, "secret", "signing secret (whsec_...) or ed25519 public key (whpk_...); repeatable")
	id := fs.String("id", "", "webhook-id header value")
	timestamp := fs.String("timestamp", "", "webhook-timestamp header value (unix seconds)")
	signature := fs.String("signature", "", `webhook-signature header value, e.g. "v1,<base64>"`)
	fs.Var(&headers, "header", `a received header as "Name: value" (repeatable); webhook-* and svix-* names are read`)
	bodyPath := fs.String("body", "", "file holding the raw body exactly as received, or - for standard input")
	tolerance := fs.Duration("tolerance", webhook.DefaultTolerance, "how far the timestamp may be from now; 0 skips the check")
	provider := fs.String("provider", "", "check a provider's signature instead: "+strings.Join(inbound.Types(), ", ")+" (give its headers with --header)")
	reqURL := fs.String("url", "", "the full URL the provider posted to (twilio signs it)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: herald verify --secret whsec_... --id ID --timestamp TS --signature \"v1,...\" --body FILE\n"+
			"       herald verify --provider stripe --secret whsec_... --header \"Stripe-Signature: t=...,v1=...\" --body FILE\n\n"+
			"Checks a Standard Webhooks signature, or a provider's. Flags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if len(secrets) == 0 {
		return errors.New("verify: --secret is required")
	}
	if *bodyPath == "" {
		return errors.New("verify: --body is required (a file, or - for standard input)")
	}

	h, err := parseVerifyHeaders(headers)
	if err != nil {
		return err
	}
	for name, value := range map[string]string{webhook.HeaderID: *id, webhook.HeaderTimestamp: *timestamp, webhook.HeaderSignature: *signature} {
		if value != "" {
			h.Set(name, value)
		}
	}
	body, err := readVerifyBody(*bodyPath, env.Stdin)
	if err != nil {
		return err
	}
	if *provider != "" {
		given := false
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "tolerance" })
		var tol *time.Duration
		if given {
			tol = tolerance
		}
		return verifyProvider(env, *provider, secrets, *reqURL, tol, h, body)
	}
	v, err := webhook.NewVerifier(secrets...)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	v.Tolerance = *tolerance
	if *tolerance <= 0 {
		v.Tolerance = webhook.SkipTimestampCheck
	}
	if err := v.Verify(body, h); err != nil {
		return fmt.Errorf("signature invalid: %w%s", err, verifyHint(err))
	}
	_, err = fmt.Fprintln(env.Stdout, "signature valid")
	return err
}

// verifyProvider checks a request with one of the inbound presets, the
// same code that guards Herald's source URLs. tolerance is --tolerance if
// given; otherwise the preset's own applies.
func verifyProvider(env Env, provider string, secrets []string, reqURL string, tolerance *time.Duration, h http.Header, body []byte) error {
	cfg := inbound.VerifierConfig{Type: provider, Secrets: secrets}
	if tolerance != nil {
		if !inbound.SignsTimestamp(provider) {
			return fmt.Errorf("verify: --tolerance does not apply to %s: its requests carry no signed timestamp", provider)
		}
		// A preset has no "skip"; 0 is "its default". Its longest will do.
		cfg.ToleranceSeconds = inbound.MaxToleranceSeconds
		if *tolerance > 0 {
			cfg.ToleranceSeconds = min(inbound.MaxToleranceSeconds, int(math.Ceil(tolerance.Seconds())))
		}
	}
	v, err := inbound.NewVerifier(cfg, nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	res, err := v.Verify(&inbound.Request{Method: http.MethodPost, URL: reqURL, Header: h, Body: body})
	if err != nil {
		return fmt.Errorf("signature invalid: %w%s", err, verifyHint(err))
	}
	_, err = fmt.Fprintf(env.Stdout, "signature valid (event type %q, id %q)\n", res.EventType, res.DedupeKey)
	return err
}

// parseVerifyHeaders turns "Name: value" flags into a header set.
func parseVerifyHeaders(lines []string) (http.Header, error) {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("verify: --header %q: want \"Name: value\"", line)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

func readVerifyBody(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		body, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("verify: read body from standard input: %w", err)
		}
		return body, nil
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verify: read body: %w", err)
	}
	return body, nil
}

// verifyHint suggests the usual cause of each failure.
func verifyHint(err error) string {
	switch {
	case errors.Is(err, webhook.ErrNoMatch):
		return "\n(check the secret, and that the body is byte for byte what was sent: a trailing newline counts)"
	case errors.Is(err, webhook.ErrTimestamp), errors.Is(err, inbound.ErrStale):
		return "\n(to check an old message, pass --tolerance 0)"
	case errors.Is(err, webhook.ErrMissingHeaders):
		return "\n(give --id, --timestamp and --signature, or --header \"webhook-id: ...\" and so on)"
	}
	return ""
}
