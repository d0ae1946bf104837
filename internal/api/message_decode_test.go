package api

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// messageBodies are create-message bodies on both sides of the fast
// path's limits.
var messageBodies = []string{
	`{"eventType":"user.signup","payload":{"a":1}}`,
	` { "eventType" : "a" , "eventId" : "e1" , "payload" : {"x":[1,-2.5e+3,true,false,null,"s\"\\\/\b\f\n\r\t\u00e9"]} } `,
	`{"eventType":"a","payload":{},"channels":["c1","c2"],"tags":[],"payloadRetentionPeriod":5,"payloadRetentionHours":-3}`,
	`{"eventType":"a","payload":null,"eventId":null,"channels":null,"tags":null,"payloadRetentionPeriod":null}`,
	`{"eventType":"a","payload":{"k":"v"},"transformationsParams":{"x":1}}`,
	`{"payload":[],"eventType":"a"}`,
	`{}`,
	`{"eventType":"a","payload":{"a":1},"application":{"name":"Acme","uid":"acme"}}`,
	`{"eventType":"a\u0062","payload":{}}`,
	`{"eventtype":"a","payload":{}}`,
	`{"eventType":"a","eventType":"b","payload":{}}`,
	`{"eventType":"a","payload":{"a":1},"other":1}`,
	`{"eventType":"a","payloadRetentionPeriod":1.0}`,
	`{"eventType":"a","payloadRetentionPeriod":01}`,
	`{"eventType":"a","payloadRetentionPeriod":99999999999999999999}`,
	`{"eventType":"a","payload":{"a":01}}`,
	`{"eventType":"a","payload":{"a":1.}}`,
	`{"eventType":"a","payload":{"a":"\x"}}`,
	`{"eventType":"a","payload":{"a":"` + "\x01" + `"}}`,
	`{"eventType":"a","payload":{"a":1}} x`,
	`{"eventType":"a","payload":{"a":1},}`,
	`{"eventType":"a","payload":{"a" 1}}`,
	`{"eventType":"a","payload":` + strings.Repeat("[", 127) + strings.Repeat("]", 127) + `}`,
	`{"eventType":"a","payload":` + strings.Repeat("[", 128) + strings.Repeat("]", 128) + `}`,
	`{"eventType":"a","payload":"` + "\xff" + `"}`,
	`{"eventType":1,"payload":{}}`,
	`{"eventType":"a","channels":"c"}`,
	`[]`, `null`, ``, ` `, `{`, `{"eventType":"a"`,
}

func TestDecodeMessageInMatchesDecodeJSON(t *testing.T) {
	fast := 0
	for _, body := range messageBodies {
		var in messageIn
		if fastMessageIn([]byte(body), &in) {
			fast++
		}
		sameAsDecodeJSON(t, []byte(body))
	}
	// The common shapes must take the fast path, or it saves nothing.
	if fast < 6 {
		t.Errorf("%d bodies took the fast path, want at least the first 6", fast)
	}
	var in messageIn
	if !fastMessageIn([]byte(messageBodies[0]), &in) || string(in.Payload) != `{"a":1}` || in.EventType != "user.signup" {
		t.Errorf("fast path on %s: got %+v", messageBodies[0], in)
	}
}

// FuzzDecodeMessageIn holds the fast path to decodeJSON: whatever it
// accepts, decodeJSON accepts with the same result.
func FuzzDecodeMessageIn(f *testing.F) {
	for _, body := range messageBodies {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameAsDecodeJSON(t, body) })
}

func sameAsDecodeJSON(t *testing.T, body []byte) {
	t.Helper()
	var fast, slow messageIn
	ok := fastMessageIn(body, &fast)
	err := decodeJSON(body, &slow)
	if !ok {
		var via messageIn
		if got := decodeMessageIn(body, &via); (got == nil) != (err == nil) || !reflect.DeepEqual(via, slow) {
			t.Fatalf("body %q: decodeMessageIn gave %+v, %v; decodeJSON %+v, %v", body, via, got, slow, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("body %q: the fast path accepted what decodeJSON rejects: %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("body %q: fast path decoded %+v, decodeJSON %+v", body, fast, slow)
	}
}

func BenchmarkDecodeMessageIn(b *testing.B) {
	body := []byte(`{"eventType":"bench.event","payload":{"data":"` + string(bytes.Repeat([]byte("x"), 1024-11)) + `"}}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in messageIn
			if err := decodeMessageIn(body, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var in messageIn
			if err := decodeJSON(body, &in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
