package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// The secret an application receives from the sender's dashboard.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func ExampleVerifier_Verify() {
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		log.Fatal(err)
	}
	// The example's message was signed in 2021; a real receiver keeps the
	// default clock.
	v.Now = func() time.Time { return time.Unix(1614265330, 0) }

	payload := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	fmt.Println(v.Verify(payload, h))
	err = v.Verify([]byte(`{"test": 2432232315}`), h)
	fmt.Println(errors.Is(err, webhook.ErrNoMatch))
	// Output:
	// <nil>
	// true
}

func ExampleVerifier_Verify_tolerance() {
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		log.Fatal(err)
	}
	v.Tolerance = time.Minute
	v.Now = func() time.Time { return time.Unix(1614265330, 0).Add(90 * time.Second) }
	err = v.VerifyParts("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, webhook.ErrTooOld))
	// Output:
	// webhook: message timestamp too old: signed 1m30s ago, tolerance 1m0s
	// true
}

func ExampleNewKeyPair() {
	private, public := webhook.NewKeyPair()
	signer, err := webhook.NewSigner(private) // the sender keeps the private key
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := webhook.NewVerifier(public) // receivers get the public key
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	sig := signer.Sign("msg_1", now, []byte(`{}`))
	fmt.Println(strings.HasPrefix(sig, "v1a,"))
	fmt.Println(verifier.VerifyParts("msg_1", strconv.FormatInt(now.Unix(), 10), sig, []byte(`{}`)))
	// Output:
	// true
	// <nil>
}

func ExampleReceiver() {
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		log.Fatal(err)
	}
	receiver := webhook.NewReceiver(v, func(ctx context.Context, e *webhook.Event) error {
		fmt.Printf("received %s: %s\n", e.Type, e.Body)
		return nil // an error answers 500, and the sender retries
	}, webhook.ReceiverConfig{})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", receiver)
	// A real application serves it:
	//	log.Fatal(http.ListenAndServe(":3000", mux))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What a sender does, twice: the duplicate is acknowledged, not handled.
	for range 2 {
		status := send(srv.URL+"/webhooks", "msg_2Kq8", `{"type":"invoice.paid","data":{"id":"in_1"}}`)
		fmt.Println(status)
	}
	// Output:
	// received invoice.paid: {"type":"invoice.paid","data":{"id":"in_1"}}
	// 204 No Content
	// 200 OK
}

// send posts a body signed as Herald or any Standard Webhooks sender would.
func send(url, id, body string) string {
	signer, err := webhook.NewSigner(secret)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", signer.Sign(id, now, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	return resp.Status
}

func ExampleReceiver_async() {
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		log.Fatal(err)
	}
	handled := make(chan string, 1)
	receiver := webhook.NewReceiver(v, func(ctx context.Context, e *webhook.Event) error {
		handled <- e.ID // runs on a worker, after the sender got its 202
		return nil
	}, webhook.ReceiverConfig{Workers: 4, QueueSize: 1000})
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	fmt.Println(send(srv.URL, "msg_async", `{"type":"user.created"}`))
	fmt.Println("handled", <-handled)
	// On shutdown: stop the HTTP server first, then drain the queue.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := receiver.Shutdown(ctx); err != nil {
		log.Print(err)
	}
	// Output:
	// 202 Accepted
	// handled msg_async
}
