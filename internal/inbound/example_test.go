package inbound_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/inbound"
)

// An ingest handler builds one Verifier per source and answers 401 when
// Verify refuses a request.
func ExampleVerifier_Verify() {
	v, err := inbound.NewVerifier(inbound.VerifierConfig{
		Type:    inbound.TypeGitHub,
		Secrets: []string{"new-secret", "old-secret"}, // both valid while GitHub is switched over
	}, time.Now)
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	mac := hmac.New(sha256.New, []byte("old-secret"))
	mac.Write(body)
	req := &inbound.Request{
		Method: http.MethodPost,
		URL:    "https://herald.example.com/in/src_2ZbX",
		Header: http.Header{
			"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
			"X-Github-Event":      {"ping"},
			"X-Github-Delivery":   {"9f1b2e3a-1c7d-11ef-8a2b-2a0e5c1d7f10"},
		},
		Body: body,
	}
	res, err := v.Verify(req)
	fmt.Println(res.EventType, res.DedupeKey, err)

	req.Body = []byte(`{"zen":"Tampered."}`)
	_, err = v.Verify(req)
	fmt.Println(inbound.IsRefused(err), errors.Is(err, inbound.ErrBadSignature))
	// Output:
	// ping 9f1b2e3a-1c7d-11ef-8a2b-2a0e5c1d7f10 <nil>
	// true true
}
