package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// secretBytes is the size of the random part of a secret made by NewSecret.
const secretBytes = 24

// NewSecret returns a fresh random HMAC secret in the "whsec_" form that
// NewSigner and NewVerifier accept: 24 random bytes, base64-encoded.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // crypto/rand.Read never fails: it crashes the program instead.
	return PrefixHMAC + base64.StdEncoding.EncodeToString(b)
}

// NewKeyPair returns a fresh ed25519 key pair for v1a signatures: the
// private key ("whsk_", for NewSigner) signs and the public key ("whpk_",
// for NewVerifier) verifies, so a receiver never holds a signing secret.
// The private key is the 64-byte ed25519 form (seed followed by public key).
func NewKeyPair() (private, public string) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		// With a nil reader GenerateKey uses crypto/rand, which never fails.
		panic(fmt.Sprintf("webhook: generate ed25519 key: %v", err))
	}
	return PrefixPrivateKey + base64.StdEncoding.EncodeToString(priv),
		PrefixPublicKey + base64.StdEncoding.EncodeToString(pub)
}

// decodeBase64 decodes standard base64 with or without '=' padding. Some
// senders hand out secrets with the padding stripped, and the reference
// Python library accepts them; the key is the same either way.
func decodeBase64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// decodeHMACSecret decodes a "whsec_" (or bare base64) secret.
func decodeHMACSecret(secret string) ([]byte, error) {
	key, err := decodeBase64(strings.TrimPrefix(secret, PrefixHMAC))
	if err != nil {
		return nil, fmt.Errorf("%w: HMAC secret is not base64", ErrInvalidSecret)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: HMAC secret is empty", ErrInvalidSecret)
	}
	return key, nil
}

// decodePrivateKey decodes a "whsk_" ed25519 private key, given either as
// the 32-byte seed or as the 64-byte private key.
func decodePrivateKey(secret string) (ed25519.PrivateKey, error) {
	raw, err := decodeBase64(strings.TrimPrefix(secret, PrefixPrivateKey))
	if err != nil {
		return nil, fmt.Errorf("%w: ed25519 private key is not base64", ErrInvalidSecret)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		key := ed25519.PrivateKey(raw)
		if !key.Public().(ed25519.PublicKey).Equal(ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]).Public()) {
			return nil, fmt.Errorf("%w: ed25519 private key does not match its public half", ErrInvalidSecret)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("%w: ed25519 private key has %d bytes, want %d or %d",
			ErrInvalidSecret, len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
	}
}

// decodePublicKey decodes a "whpk_" ed25519 public key.
func decodePublicKey(secret string) (ed25519.PublicKey, error) {
	raw, err := decodeBase64(strings.TrimPrefix(secret, PrefixPublicKey))
	if err != nil {
		return nil, fmt.Errorf("%w: ed25519 public key is not base64", ErrInvalidSecret)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: ed25519 public key has %d bytes, want %d",
			ErrInvalidSecret, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// PublicKey returns the "whpk_" public key that verifies what the "whsk_"
// private key signs: what a sender hands its receivers.
func PublicKey(private string) (string, error) {
	if !strings.HasPrefix(private, PrefixPrivateKey) {
		return "", fmt.Errorf("%w: not a %s private key", ErrInvalidSecret, PrefixPrivateKey)
	}
	key, err := decodePrivateKey(private)
	if err != nil {
		return "", err
	}
	return PrefixPublicKey + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), nil
}

// VerifyingKey returns what a receiver verifies secret's signatures with:
// a symmetric secret itself, or an ed25519 private key's public key. It is
// what may be shown to the endpoint's owner: a private key never leaves
// the sender.
func VerifyingKey(secret string) (string, error) {
	if strings.HasPrefix(secret, PrefixPrivateKey) {
		return PublicKey(secret)
	}
	return secret, nil
}
