package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Times are stored as Unix milliseconds; zero times of optional columns as
// NULL.

func ms(t time.Time) int64 { return t.UnixMilli() }

// nullMS returns nil for the zero time, so it is stored as NULL.
func nullMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromNullMS returns the zero time for NULL.
func fromNullMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}

// nullText stores an empty string as NULL.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func fromNullText(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// jsonText encodes lists and maps. A nil value encodes as "null" and an
// empty one as "[]" or "{}", so both read back as they were.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps, slices and strings reach here, which always encode.
		panic(fmt.Sprintf("postgres: encode %T: %v", v, err))
	}
	return string(b)
}

// fromJSON decodes a column written by jsonText; NULL leaves v as it is.
func fromJSON(s *string, v any) error {
	if s == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(*s), v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// storedSecret is herald.Secret as stored, with its expiry in milliseconds
// like every other time.
type storedSecret struct {
	Key       string `json:"key"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
}

func secretsText(secrets []herald.Secret) string {
	if secrets == nil {
		return "null"
	}
	out := make([]storedSecret, len(secrets))
	for i, s := range secrets {
		out[i] = storedSecret{Key: s.Key}
		if !s.ExpiresAt.IsZero() {
			out[i].ExpiresAt = s.ExpiresAt.UnixMilli()
		}
	}
	return jsonText(out)
}

func fromSecretsText(s *string) ([]herald.Secret, error) {
	var stored []storedSecret
	if err := fromJSON(s, &stored); err != nil {
		return nil, err
	}
	if stored == nil {
		return nil, nil
	}
	out := make([]herald.Secret, len(stored))
	for i, st := range stored {
		out[i] = herald.Secret{Key: st.Key}
		if st.ExpiresAt != 0 {
			out[i].ExpiresAt = fromMS(st.ExpiresAt)
		}
	}
	return out, nil
}
