package secretbox

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const secret = `[{"key":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]`

func newKey(t *testing.T) string {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t *testing.T, primary string, old ...string) *Keyring {
	t.Helper()
	kr, err := NewKeyring(primary, old...)
	if err != nil {
		t.Fatalf("new keyring: %v", err)
	}
	return kr
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	kr := keyring(t, newKey(t))
	sealed, err := kr.Seal(secret, "endpoint:ep_1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "enc:v1:"+kr.PrimaryID()+":") || !strings.HasPrefix(sealed, kr.PrimaryPrefix()) {
		t.Errorf("sealed value %q does not start with enc:v1:%s:", sealed, kr.PrimaryID())
	}
	if strings.Contains(sealed, "whsec_") || strings.Contains(sealed, "MfKQ9r8G") {
		t.Errorf("sealed value %q leaks the plaintext", sealed)
	}
	got, err := kr.Open(sealed, "endpoint:ep_1")
	if err != nil || got != secret {
		t.Errorf("open: got %q, %v; want %q", got, err, secret)
	}
	again, _ := kr.Seal(secret, "endpoint:ep_1")
	if again == sealed {
		t.Error("two seals of the same plaintext are equal: the nonce is not random")
	}
	if id, ok := KeyID(sealed); !ok || id != kr.PrimaryID() {
		t.Errorf("KeyID: got %q, %v; want %q, true", id, ok, kr.PrimaryID())
	}
}

func TestOpenRejectsAnotherRowsValue(t *testing.T) {
	t.Parallel()
	kr := keyring(t, newKey(t))
	sealed, _ := kr.Seal(secret, "endpoint:ep_1")
	if got, err := kr.Open(sealed, "endpoint:ep_2"); err == nil {
		t.Errorf("open with another row's aad: got %q, want an error", got)
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	t.Parallel()
	kr := keyring(t, newKey(t))
	sealed, _ := kr.Seal(secret, "source:src_1")
	i := strings.LastIndexByte(sealed, ':') + 1
	raw, err := base64.RawURLEncoding.DecodeString(sealed[i:])
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{0, len(raw) / 2, len(raw) - 1} {
		bad := append([]byte(nil), raw...)
		bad[pos] ^= 1
		tampered := sealed[:i] + base64.RawURLEncoding.EncodeToString(bad)
		if got, err := kr.Open(tampered, "source:src_1"); err == nil {
			t.Errorf("byte %d flipped: got %q, want an error", pos, got)
		}
	}
	for _, bad := range []string{sealed[:i] + "AAAA", sealed[:i] + "!!!", "enc:v1:", "enc:v9:x:AAAA"} {
		if got, err := kr.Open(bad, "source:src_1"); err == nil {
			t.Errorf("open %q: got %q, want an error", bad, got)
		}
	}
}

func TestOpenUnknownKeyNamesIt(t *testing.T) {
	t.Parallel()
	a, b := keyring(t, "ka:"+newKey(t)), keyring(t, "kb:"+newKey(t))
	sealed, _ := a.Seal(secret, "endpoint:ep_1")
	_, err := b.Open(sealed, "endpoint:ep_1")
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"ka"`) {
		t.Errorf("open with another keyring: got %v, want ErrUnknownKey naming ka", err)
	}
	var none *Keyring
	_, err = none.Open(sealed, "endpoint:ep_1")
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), `"ka"`) {
		t.Errorf("open without keyring: got %v, want ErrNoKey naming ka", err)
	}
}

func TestPlaintextPassesThrough(t *testing.T) {
	t.Parallel()
	var none *Keyring
	for _, kr := range []*Keyring{none, keyring(t, newKey(t))} {
		got, err := kr.Open(secret, "endpoint:ep_1")
		if err != nil || got != secret {
			t.Errorf("open plaintext (keyring %q): got %q, %v; want it unchanged", kr.PrimaryID(), got, err)
		}
	}
	sealed, err := none.Seal(secret, "endpoint:ep_1")
	if err != nil || sealed != secret {
		t.Errorf("seal without keyring: got %q, %v; want the plaintext", sealed, err)
	}
	if _, ok := KeyID(secret); ok {
		t.Error("KeyID of plaintext: got ok, want false")
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newK := newKey(t), newKey(t)
	before := keyring(t, oldKey)
	sealedOld, _ := before.Seal(secret, "endpoint:ep_1")

	rotated := keyring(t, newK, oldKey)
	if rotated.PrimaryID() == before.PrimaryID() {
		t.Fatal("different keys got the same derived id")
	}
	got, err := rotated.Open(sealedOld, "endpoint:ep_1")
	if err != nil || got != secret {
		t.Fatalf("open a value of the old key after rotation: got %q, %v", got, err)
	}
	if !rotated.Has(before.PrimaryID()) || !rotated.Has(rotated.PrimaryID()) || rotated.Has("other") {
		t.Error("Has: want both keys of the rotated keyring and nothing else")
	}
	resealed, _ := rotated.Seal(got, "endpoint:ep_1")
	if id, _ := KeyID(resealed); id != rotated.PrimaryID() {
		t.Errorf("reseal: key id %q, want the new primary %q", id, rotated.PrimaryID())
	}

	after := keyring(t, newK)
	if got, err := after.Open(resealed, "endpoint:ep_1"); err != nil || got != secret {
		t.Errorf("open resealed value without the old key: got %q, %v", got, err)
	}
	if _, err := after.Open(sealedOld, "endpoint:ep_1"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("open old value without the old key: got %v, want ErrUnknownKey", err)
	}
}

func TestKeyFormats(t *testing.T) {
	t.Parallel()
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	std, url := base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)
	a, b := keyring(t, std), keyring(t, url)
	if a.PrimaryID() != b.PrimaryID() {
		t.Errorf("the same key in two alphabets got ids %q and %q", a.PrimaryID(), b.PrimaryID())
	}
	sealed, _ := a.Seal(secret, "x")
	if got, err := b.Open(sealed, "x"); err != nil || got != secret {
		t.Errorf("open across alphabets: got %q, %v", got, err)
	}
	if id := keyring(t, "2026-11:"+url).PrimaryID(); id != "2026-11" {
		t.Errorf("explicit id: got %q, want 2026-11", id)
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(raw[:16]), "bad id:" + url, ":" + url, "no%:" + url} {
		if _, err := NewKeyring(bad); err == nil {
			t.Errorf("NewKeyring(%q): got nil error, want one", bad)
		} else if bad != "" && strings.Contains(err.Error(), url) {
			t.Errorf("error %q repeats the key", err)
		}
	}
	if _, err := NewKeyring("k:"+url, "k:"+std); err == nil {
		t.Error("two keys with one id: got nil error, want one")
	}
}

// BenchmarkOpen is the cost a claim batch pays once per endpoint.
func BenchmarkOpen(b *testing.B) {
	k, _ := GenerateKey()
	kr, err := NewKeyring(k)
	if err != nil {
		b.Fatal(err)
	}
	sealed, _ := kr.Seal(secret, "endpoint:ep_1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Open(sealed, "endpoint:ep_1"); err != nil {
			b.Fatal(err)
		}
	}
}

// A new key given under the id of the key it replaces cannot open what the
// old one sealed: the error says so, naming the id, so Herald can refuse
// to start instead of failing on every row.
func TestOpenWithAnotherKeyUnderSameID(t *testing.T) {
	t.Parallel()
	old, swapped := keyring(t, "prod:"+newKey(t)), keyring(t, "prod:"+newKey(t))
	sealed, _ := old.Seal(secret, "endpoint:ep_1")
	_, err := swapped.Open(sealed, "endpoint:ep_1")
	if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), `"prod"`) {
		t.Errorf("open with another key under the same id: got %v, want ErrAuthFailed naming prod", err)
	}
	if got := SealedPrefix("prod"); !strings.HasPrefix(sealed, got) || got != old.PrimaryPrefix() {
		t.Errorf("SealedPrefix(prod): got %q, want the prefix of %.20q", got, sealed)
	}
}
