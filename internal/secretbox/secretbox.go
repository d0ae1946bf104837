// Package secretbox seals secrets at rest with AES-256-GCM under a keyring:
// one primary key that seals, and older keys that still open what they
// sealed, so keys can be rotated without downtime.
//
// A sealed value is text, so it fits the columns that held the plaintext:
//
//	enc:v1:<key id>:<base64url(nonce | ciphertext | tag)>
//
// Anything without the "enc:" prefix is plaintext written before
// encryption was enabled, and opens as it is. The caller passes the row's
// identity (e.g. "endpoint:ep_...") as additional data, so a sealed value
// copied to another row fails to open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// Prefix starts every sealed value; values without it are plaintext.
const Prefix = "enc:"

// version1 is the only format so far.
const version1 = Prefix + "v1:"

// ErrUnknownKey means a value was sealed by a key the keyring lacks.
var ErrUnknownKey = errors.New("sealed by an unknown encryption key")

// ErrNoKey means a sealed value was read without any key configured.
var ErrNoKey = errors.New("sealed, but no encryption key is configured")

// ErrAuthFailed means a value did not open under the key its id names:
// the keyring holds another key under that id, or the value was tampered
// with or copied from another row.
var ErrAuthFailed = errors.New("authentication failed")

// Keyring seals with its primary key and opens with any of its keys. A nil
// *Keyring is valid and means no encryption: Seal returns the plaintext,
// and Open passes plaintext through but refuses sealed values.
type Keyring struct {
	primary *key
	byID    map[string]*key
}

type key struct {
	id   string
	aead cipher.AEAD
}

// NewKeyring builds a keyring from primary, which seals, and old, which
// only open. Each key is base64 (standard or URL alphabet, padding
// optional) of KeySize random bytes, optionally prefixed by an id and a
// colon ("2026-11:BASE64"); without one, the id is derived from the key.
func NewKeyring(primary string, old ...string) (*Keyring, error) {
	p, err := parseKey(primary)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	kr := &Keyring{primary: p, byID: map[string]*key{p.id: p}}
	for i, s := range old {
		k, err := parseKey(s)
		if err != nil {
			return nil, fmt.Errorf("old encryption key %d: %w", i+1, err)
		}
		if _, dup := kr.byID[k.id]; dup {
			return nil, fmt.Errorf("old encryption key %d: key id %q is used twice", i+1, k.id)
		}
		kr.byID[k.id] = k
	}
	return kr, nil
}

// GenerateKey returns a new random key in the form NewKeyring takes.
func GenerateKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// PrimaryID returns the id of the key that seals; "" for a nil keyring.
func (kr *Keyring) PrimaryID() string {
	if kr == nil {
		return ""
	}
	return kr.primary.id
}

// PrimaryPrefix returns how values sealed by the primary key start, so
// stores can find the rows that still need re-sealing; "" for a nil
// keyring.
func (kr *Keyring) PrimaryPrefix() string {
	if kr == nil {
		return ""
	}
	return SealedPrefix(kr.primary.id)
}

// SealedPrefix returns how values sealed by the key with id start, so
// stores can find the rows that key sealed.
func SealedPrefix(id string) string {
	return version1 + id + ":"
}

// Has reports whether the keyring holds the key with id; false for a nil
// keyring.
func (kr *Keyring) Has(id string) bool {
	if kr == nil {
		return false
	}
	_, ok := kr.byID[id]
	return ok
}

// Seal encrypts plaintext under the primary key, bound to aad. A nil
// keyring returns the plaintext as it is.
func (kr *Keyring) Seal(plaintext, aad string) (string, error) {
	if kr == nil {
		return plaintext, nil
	}
	k := kr.primary
	buf := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	buf = k.aead.Seal(buf, buf, []byte(plaintext), []byte(aad))
	return SealedPrefix(k.id) + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open returns the plaintext of stored, a value Seal returned with the
// same aad, or plaintext stored before encryption was enabled. A value
// sealed by a key the keyring lacks fails with ErrUnknownKey (or ErrNoKey
// for a nil keyring), naming the key id; one that the key under its id
// does not open fails with ErrAuthFailed.
func (kr *Keyring) Open(stored, aad string) (string, error) {
	if !strings.HasPrefix(stored, Prefix) {
		return stored, nil
	}
	id, data, err := split(stored)
	if err != nil {
		return "", err
	}
	if kr == nil {
		return "", fmt.Errorf("open: key id %q: %w (set --encryption-key)", id, ErrNoKey)
	}
	k, ok := kr.byID[id]
	if !ok {
		return "", fmt.Errorf("open: key id %q: %w (add it to --encryption-key-old)", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", fmt.Errorf("open: key id %q: malformed sealed value", id)
	}
	ns := k.aead.NonceSize()
	pt, err := k.aead.Open(nil, raw[:ns], raw[ns:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("open: key id %q: %w (another key was given under this id, or the value was tampered with or sealed for another row)", id, ErrAuthFailed)
	}
	return string(pt), nil
}

// KeyID returns the id of the key that sealed stored, and false for
// plaintext.
func KeyID(stored string) (string, bool) {
	if !strings.HasPrefix(stored, Prefix) {
		return "", false
	}
	id, _, err := split(stored)
	return id, err == nil
}

// split parses "enc:v1:<id>:<data>".
func split(stored string) (id, data string, err error) {
	rest, ok := strings.CutPrefix(stored, version1)
	if !ok {
		v, _, _ := strings.Cut(strings.TrimPrefix(stored, Prefix), ":")
		return "", "", fmt.Errorf("open: unsupported sealed format %q", v)
	}
	id, data, ok = strings.Cut(rest, ":")
	if !ok || id == "" {
		return "", "", errors.New("open: malformed sealed value: no key id")
	}
	return id, data, nil
}

// parseKey reads "[id:]base64".
func parseKey(s string) (*key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty key")
	}
	id, enc, hasID := strings.Cut(s, ":")
	if !hasID {
		id, enc = "", s
	} else if err := validID(id); err != nil {
		return nil, err
	}
	raw, err := decodeKey(enc)
	if err != nil {
		return nil, err
	}
	if id == "" {
		// Derived from the key, so the same key always gets the same id,
		// and the id reveals nothing about it.
		sum := sha256.Sum256(append([]byte("herald secretbox key id\x00"), raw...))
		id = hex.EncodeToString(sum[:4])
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &key{id: id, aead: aead}, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("key is %d bytes, want %d (generate one with `herald keygen`)", len(raw), KeySize)
			}
			return raw, nil
		}
	}
	return nil, errors.New("key is not base64 (generate one with `herald keygen`)")
}

// validID keeps ids short and free of the separator.
func validID(id string) error {
	if id == "" || len(id) > 32 {
		return fmt.Errorf("key id %q must be 1 to 32 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("key id %q may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}
