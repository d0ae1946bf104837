package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

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
			return nil, errors.New("--encryption-key-old needs --encryption-key, the key that seals from now on")
		}
		return nil, nil
	}
	return secretbox.NewKeyring(e.key, e.old...)
}

// checkSecretKeys refuses to start when rows are sealed by a key Herald
// was not given, so the error names the key once, at start, instead of
// failing every claim; and warns when rows still wait for
// `herald migrate --reencrypt`.
func checkSecretKeys(ctx context.Context, st store.Store, keys *secretbox.Keyring, logger *slog.Logger) error {
	re, ok := st.(store.Reencrypter)
	if !ok {
		return nil
	}
	ids, err := re.SecretKeyIDs(ctx)
	if err != nil {
		return fmt.Errorf("check encryption keys: %w", err)
	}
	var missing []string
	var pending int64
	for id, n := range ids {
		switch {
		case id == "":
			if keys != nil {
				pending += n
			}
		case !keys.Has(id):
			missing = append(missing, fmt.Sprintf("%q (%d rows)", id, n))
		case id != keys.PrimaryID():
			pending += n
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		if keys == nil {
			return fmt.Errorf("secrets in the database are encrypted with key id %s, but no --encryption-key is set", strings.Join(missing, ", "))
		}
		return fmt.Errorf("secrets in the database are encrypted with key id %s, which neither --encryption-key nor --encryption-key-old holds", strings.Join(missing, ", "))
	}
	if pending > 0 {
		logger.Warn("some secrets are not encrypted with the current key yet; run herald migrate --reencrypt", "rows", pending, "encryption_key_id", keys.PrimaryID())
	}
	return nil
}
