package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestInteropStandardWebhooksJS checks Herald's signatures against the
// official JavaScript implementation (npm standardwebhooks, pinned in
// testdata/js/package.json): what Signer signs, it accepts, and a tampered
// body it rejects.
func TestInteropStandardWebhooksJS(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		t.Fatalf("the JavaScript reference library is not installed (%v): run `npm ci --prefix webhook/testdata/js` from the repository root", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to run the JavaScript reference library: %v", err)
	}

	secret := NewSecret()
	signer := mustSigner(t, secret)
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1","amount":4200,"note":"caf\u00e9 ✓"}}`)
	now := time.Now()
	headers := map[string]string{
		HeaderID:        "msg_interop",
		HeaderTimestamp: strconv.FormatInt(now.Unix(), 10),
		HeaderSignature: signer.Sign("msg_interop", now, body),
	}

	if out, err := runJSVerify(t, node, dir, secret, headers, body); err != nil {
		t.Fatalf("standardwebhooks rejected Herald's signature: %v: %s", err, out)
	}
	tampered := bytes.Replace(body, []byte("4200"), []byte("4201"), 1)
	out, err := runJSVerify(t, node, dir, secret, headers, tampered)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("standardwebhooks on a tampered body: got %v (%s), want exit status 1", err, out)
	}

	// Rotation: the JavaScript library must pick the entry it knows.
	headers[HeaderSignature] = mustSigner(t, NewSecret(), secret).Sign("msg_interop", now, body)
	if out, err := runJSVerify(t, node, dir, secret, headers, body); err != nil {
		t.Fatalf("standardwebhooks rejected a two-signature header: %v: %s", err, out)
	}
}

func runJSVerify(t *testing.T, node, dir, secret string, headers map[string]string, body []byte) ([]byte, error) {
	t.Helper()
	input, err := json.Marshal(map[string]any{
		"secret":  secret,
		"headers": headers,
		"body":    base64.StdEncoding.EncodeToString(body),
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "verify.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(input)
	return cmd.CombinedOutput()
}
