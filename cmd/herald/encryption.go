package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
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

// keyChecker is a store that can try its keyring on the rows one key
// sealed (both engines).
type keyChecker interface {
	CheckSecretKey(ctx context.Context, keyID string) error
}

var (
	_ keyChecker = (*sqlite.DB)(nil)
	_ keyChecker = (*postgres.DB)(nil)
)

// checkSecretKeys refuses to start when rows are sealed by a key Herald
// was not given, or by another key than the one it was given under that
// key id (a new key named like the old one), so the error names the key
// once, at start, instead of failing every claim; and warns when rows
// still wait for `herald migrate --reencrypt`. A key that has sealed
// nothing yet, such as a new key first deployed as --encryption-key-old,
// passes.
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
	if err := checkKeysOpen(ctx, st, ids); err != nil {
		return err
	}
	if pending > 0 {
		logger.Warn("some secrets are not encrypted with the current key yet; run herald migrate --reencrypt", "rows", pending, "encryption_key_id", keys.PrimaryID())
	}
	return nil
}

// checkKeysOpen tries each key id in use on the rows it sealed.
func checkKeysOpen(ctx context.Context, st store.Store, ids map[string]int64) error {
	kc, ok := st.(keyChecker)
	if !ok {
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if id == "" {
			continue
		}
		if err := kc.CheckSecretKey(ctx, id); err != nil {
			if !errors.Is(err, secretbox.ErrAuthFailed) {
				return fmt.Errorf("check encryption key %q: %w", id, err)
			}
			return fmt.Errorf("secrets in the database are encrypted with key id %q (%d rows), but the key given under that id does not decrypt them: "+
				"give it the key that encrypted them; a new key needs a new id (herald keygen --id), with the old key kept in --encryption-key-old until herald migrate --reencrypt (%w)",
				id, ids[id], err)
		}
	}
	return nil
}
