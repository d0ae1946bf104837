package api

import (
	"testing"
)

// FuzzDecodeInputs feeds arbitrary bodies to the decoding and validation
// of MessageIn and EndpointIn: they must never panic, and every rejection
// must be a client error, never a 5xx.
func FuzzDecodeInputs(f *testing.F) {
	for _, seed := range []string{
		`{"eventType":"user.signup","payload":{"a":1},"channels":["c"],"eventId":"e1"}`,
		`{"eventType":"a","payload":[],"payloadRetentionPeriod":5}`,
		`{"url":"https://example.com","filterTypes":["a"],"rateLimit":3,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`,
		`{"url":"http://[::1]:80/x","channels":null,"uid":"u"}`,
		`{"payload":{"x":` + "\"\\ud800\"" + `}}`,
		`[1,2]`, `null`, `{"a":1} x`, `{"eventType":1e400}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			if status, _ := errorResponse(err); status >= 500 {
				t.Fatalf("body %q: got status %d (%v), want a 4xx", body, status, err)
			}
		}
		var msg messageIn
		err := decodeJSON(body, &msg)
		if err == nil {
			_, err = msg.validate()
		}
		check(err)

		var ep endpointIn
		err = decodeJSON(body, &ep)
		if err == nil {
			err = checkURL("url", ep.URL)
		}
		if err == nil && ep.Secret != nil {
			_, err = checkSecret("secret", *ep.Secret)
		}
		if err == nil && ep.Channels != nil {
			err = checkNames("channels", ep.Channels, 128, 1, 10)
		}
		check(err)

		var patch endpointPatch
		check(decodeJSON(body, &patch))
	})
}
