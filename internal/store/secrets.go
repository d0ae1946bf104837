package store

import "context"

// Reencrypter is implemented by stores that seal endpoint secrets and
// source verifiers at rest (both engines, when opened with a keyring).
// After a key rotation, old rows still open with the old key; this moves
// them to the new one so the old key can be retired.
type Reencrypter interface {
	// ReencryptSecrets seals up to limit rows that are plaintext or sealed
	// by an older key under the primary key, in one short transaction, and
	// returns how many it rewrote. Callers loop until it returns fewer than
	// limit. A row sealed by a key the keyring lacks fails it, naming the
	// key id.
	ReencryptSecrets(ctx context.Context, limit int) (int, error)
	// SecretKeyIDs counts endpoint secrets and source verifiers by the id
	// of the key that sealed them; "" counts plaintext rows. It reads
	// every row, so it is for start-up checks and tools, not hot paths.
	SecretKeyIDs(ctx context.Context) (map[string]int64, error)
}
