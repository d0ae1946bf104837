package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeTLS serves HTTPS with --tls-cert and --tls-key, and refuses
// one without the other.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSignedCert(t)
	ts := setup(t, "--tls-cert", certFile, "--tls-key", keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ts.addr + "/api/v1/health")
	if err != nil {
		t.Fatalf("HTTPS health: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.TLS == nil {
		t.Errorf("HTTPS health: got %d (TLS %v), want 2xx over TLS", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + ts.addr + "/api/v1/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Error("plain HTTP on the TLS port: got a 2xx answer")
		}
	}

	var cfg serveConfig
	env := Env{Stderr: &syncBuffer{}, Getenv: func(string) string { return "" }}
	if err := parseFlags(flagSet(&cfg), []string{"--data-dir", t.TempDir(), "--tls-cert", certFile}, env); err != nil {
		t.Fatal(err)
	}
	logger, _ := newLogger(env, "text", "warn")
	if _, err := startServer(t.Context(), cfg, env, logger); err == nil {
		t.Error("--tls-cert without --tls-key: got no error")
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "herald test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
