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

// encryptionFlags are the key flags of every command that opens the store.
type encryptionFlags struct {
	key string
	old listFlag
}

func (e *encryptionFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&e.key, "encryption-key", "", "`key` that seals endpoint and source secrets at rest (generate one with herald keygen); empty stores them unencrypted")
	fs.Var(&e.old, "encryption-key-old", "an earlier --encryption-key `key`, still used to read what it sealed until herald migrate --reencrypt (repeatable)")
}

// keyring returns the keyring of the flags, or nil when no key is set.
func (e *encryptionFlags) keyring() (*secretbox.Keyring, error) {
	if e.key == "" {
		if len(e.old) > 0 {
			return nil, fmt.Errorf("--encryption-key-old needs --encryption-key, the key that seals from now on")
		}
		return nil, nil
	}
	return secretbox.NewKeyring(e.key, e.old...)
}
