package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Settings of herald serve that live outside its flags: what it keeps in
// the data directory, and the parsing of its flag values.

func storeKind(cfg serveConfig) string {
	if cfg.database != "" {
		return "postgres"
	}
	return "sqlite"
}

// secretFile returns given if set, and otherwise a random secret kept in
// dataDir/name, generated on first use.
func secretFile(dataDir, name, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store %s: %w", name, err)
	}
	return s, nil
}

// nodeID returns this node's stable identity, kept in the data directory
// so a restarted node recognises the leases it held before.
func nodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	host, _ := os.Hostname()
	raw := make([]byte, 6)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := host + "-" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store node id: %w", err)
	}
	return id, nil
}

// adminToken returns the configured token, or the one generated on a
// previous start, or generates and stores a new one and prints it once on
// standard output.
func adminToken(cfg serveConfig, env Env) (string, error) {
	if cfg.adminToken != "" {
		return cfg.adminToken, nil
	}
	path := filepath.Join(cfg.dataDir, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := "hrld_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	// Standard output, not the log stream (standard error): a secret never
	// goes into the logs, and JSON logs stay one object per line.
	if env.Stdout != nil {
		fmt.Fprintf(env.Stdout, "Generated an admin token (stored in %s); it is shown only this once:\n\n    %s\n\n", path, token)
	}
	return token, nil
}

func newLogger(env Env, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}

// parsePrefixes parses the CIDRs given to flag; a bare address stands for
// just that address.
func parsePrefixes(flag string, cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("%s %q: want a CIDR such as 10.0.0.0/8 or an address such as 10.0.0.1", flag, c)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseTrustedProxies parses --trusted-proxies: each value a
// comma-separated list of CIDRs or addresses, empty elements skipped.
func parseTrustedProxies(values []string) ([]netip.Prefix, error) {
	var cidrs []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				cidrs = append(cidrs, c)
			}
		}
	}
	return parsePrefixes("--trusted-proxies", cidrs)
}

func parseSchedule(s string) (herald.Policy, error) {
	if s == "" {
		return herald.Policy{}, nil
	}
	var sched []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return herald.Policy{}, fmt.Errorf("--retry-schedule: %q is not a positive duration", part)
		}
		sched = append(sched, d)
	}
	return herald.Policy{Schedule: sched}, nil
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "herald")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "herald")
	}
	return "herald-data"
}
