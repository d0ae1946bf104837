package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/heraldhq/herald/internal/secretbox"
)

// runKeygen prints a new key for --encryption-key. The key goes to stdout
// only, so it can be piped into a secret store.
func runKeygen(_ context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	id := fs.String("id", "", "prefix the key with this id (e.g. 2026-11), which sealed values then name; default: derived from the key")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	key, err := secretbox.GenerateKey()
	if err != nil {
		return err
	}
	if *id != "" {
		key = *id + ":" + key
	}
	// Parsing it back validates the id.
	if _, err := secretbox.NewKeyring(key); err != nil {
		return fmt.Errorf("--id: %w", err)
	}
	_, err = fmt.Fprintln(env.Stdout, key)
	return err
}
