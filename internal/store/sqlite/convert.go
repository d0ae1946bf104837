package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/herald"
)

// ms stores t as unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// nullMS stores t as unix milliseconds, or NULL when t is zero.
func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMS is the inverse of ms.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromNullMS is the inverse of nullMS.
func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// nullString stores s, or NULL when it is empty.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mapErr turns SQLite constraint errors into Herald's sentinels and wraps
// everything else with what.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if code, ok := errCode(err); ok {
		switch code {
		case codeConstraintUnique, codeConstraintPrimaryKey:
			return fmt.Errorf("%s: %w", what, herald.ErrConflict)
		case codeConstraintForeignKey:
			return fmt.Errorf("%s: %w", what, herald.ErrNotFound)
		}
		switch code & 0xff {
		case codeBusy, codeIOErr, codeFull, codeCantOpen:
			return fmt.Errorf("%s: %w: %w", what, herald.ErrUnavailable, err)
		}
	}
	if errNoRows(err) {
		return fmt.Errorf("%s: %w", what, herald.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// The JSON columns are written by hand: these are flat lists and string
// maps, and the hot path (attempt headers) should not pay for reflection.

// jsonList encodes a list of strings, or NULL when it is empty.
func jsonList(l []string) sql.NullString {
	if len(l) == 0 {
		return sql.NullString{}
	}
	b := make([]byte, 0, 16*len(l))
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	b = append(b, ']')
	return sql.NullString{String: string(b), Valid: true}
}

// jsonMap encodes a string map with sorted keys, or NULL when it is empty.
func jsonMap(m map[string]string) sql.NullString {
	if len(m) == 0 {
		return sql.NullString{}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 32*len(m))
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	b = append(b, '}')
	return sql.NullString{String: string(b), Valid: true}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// parseList decodes a jsonList column.
func parseList(v sql.NullString) ([]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(v.String), &l); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return l, nil
}

// parseMap decodes a jsonMap column.
func parseMap(v sql.NullString) (map[string]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(v.String), &m); err != nil {
		return nil, fmt.Errorf("decode map: %w", err)
	}
	return m, nil
}

// secretJSON is how an endpoint's secrets are stored.
type secretJSON struct {
	Key       string `json:"key"`
	ExpiresAt int64  `json:"expiresAt,omitempty"`
}

func jsonSecrets(s []herald.Secret) (sql.NullString, error) {
	if len(s) == 0 {
		return sql.NullString{}, nil
	}
	out := make([]secretJSON, len(s))
	for i, sec := range s {
		out[i] = secretJSON{Key: sec.Key}
		if !sec.ExpiresAt.IsZero() {
			out[i].ExpiresAt = sec.ExpiresAt.UnixMilli()
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode secrets: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func parseSecrets(v sql.NullString) ([]herald.Secret, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var in []secretJSON
	if err := json.Unmarshal([]byte(v.String), &in); err != nil {
		return nil, fmt.Errorf("decode secrets: %w", err)
	}
	out := make([]herald.Secret, len(in))
	for i, s := range in {
		out[i] = herald.Secret{Key: s.Key}
		if s.ExpiresAt != 0 {
			out[i].ExpiresAt = fromMS(s.ExpiresAt)
		}
	}
	return out, nil
}

// placeholders returns "?,?,...,?" with n marks.
func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

// limitOf applies the default page size.
func limitOf(n int) int {
	if n <= 0 {
		return 50
	}
	return n
}
