package store

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"
)

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

// UnreadableSecretsRetry is how long a claim puts off the deliveries of an
// endpoint whose secrets it cannot open (sealed by a key the keyring
// lacks, or a corrupt row). Such a delivery is neither sent unsigned nor
// failed: it stays unleased and pending, and claims do not spin on it
// while the key is missing, nor fail for it.
const UnreadableSecretsRetry = time.Minute

// ClaimRefills is how many more times a claim takes due deliveries when
// some it took were held back (unreadable secrets): they took places in
// the batch, and a batch of them alone would look to the poller like
// nothing more was due, while the deliveries behind them wait.
const ClaimRefills = 4

// WarnUnreadableSecrets logs that a claim held back n deliveries of the
// endpoints whose secrets did not open, with their errors (which name key
// ids, never secrets). It logs at most once per UnreadableSecretsRetry for
// each last, the store's time of the previous warning in Unix ms.
func WarnUnreadableSecrets(ctx context.Context, log *slog.Logger, last *atomic.Int64, endpoints map[string]error, n int) {
	t, prev := time.Now().UnixMilli(), last.Load()
	if prev != 0 && t-prev < UnreadableSecretsRetry.Milliseconds() || !last.CompareAndSwap(prev, t) {
		return
	}
	ids := slices.Sorted(maps.Keys(endpoints))
	log.WarnContext(ctx, "endpoint secrets cannot be opened: its deliveries wait, unsent, until the key is configured",
		"endpoints", ids[:min(len(ids), 10)], "endpoint_count", len(ids), "deliveries", n,
		"retry_in", UnreadableSecretsRetry, "error", endpoints[ids[0]])
}
