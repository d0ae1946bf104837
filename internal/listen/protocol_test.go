package listen

import (
	"net/http"
	"strings"
	"testing"
)

func TestFrameRoundTripKeepsBytesAndHeaders(t *testing.T) {
	t.Parallel()
	body := []byte("{\"a\": 1,  \"b\":\"\xff\x00\"}\n") // not even valid UTF-8
	in := &Frame{Type: FrameRequest, ID: "7", MsgID: "msg_1", EventType: "invoice.paid", Attempt: 2, Method: "POST",
		Header: http.Header{"Webhook-Signature": {"v1,abc v1,def"}, "X-Multi": {"a", "b"}}, Body: body}
	b, err := EncodeFrame(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Body) != string(body) {
		t.Errorf("body: got %q, want %q", out.Body, body)
	}
	if got := out.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("multi-valued header: got %q, want [a b]", got)
	}
	if out.Header.Get("Webhook-Signature") != "v1,abc v1,def" || out.MsgID != "msg_1" || out.EventType != "invoice.paid" || out.Attempt != 2 {
		t.Errorf("frame: got %+v, want the fields sent", out)
	}
}

func TestDecodeFrameRejectsIncompleteFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantErr string
	}{
		{"not json", `{`, "decode frame"},
		{"unknown type", `{"type":"hello"}`, `unknown type "hello"`},
		{"ready without endpoint", `{"type":"ready"}`, "without endpointId"},
		{"request without id", `{"type":"request","body":"e30="}`, "request without id"},
		{"response without id", `{"type":"response","status":200}`, "response without id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeFrame([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DecodeFrame(%s): got %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestEncodeFrameNeedsAType(t *testing.T) {
	t.Parallel()
	if _, err := EncodeFrame(&Frame{ID: "1"}); err == nil {
		t.Errorf("EncodeFrame without type: got nil error, want one")
	}
}

func TestSessionNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, sanitized string
		valid         bool
	}{
		{"dev-box", "dev-box", true},
		{"laptop.local-app_1", "laptop.local-app_1", true},
		{"Ada's MacBook/acme", "Ada-s-MacBook-acme", false},
		{"-lead", "lead", false},
		{"", "", false},
		{"ünï", "n", false},
		{strings.Repeat("a", 70), strings.Repeat("a", 63), false},
	}
	for _, tt := range tests {
		if got := SanitizeName(tt.in); got != tt.sanitized {
			t.Errorf("SanitizeName(%q): got %q, want %q", tt.in, got, tt.sanitized)
		}
		if got := ValidName(tt.in); got != tt.valid {
			t.Errorf("ValidName(%q): got %v, want %v", tt.in, got, tt.valid)
		}
		if s := SanitizeName(tt.in); s != "" && !ValidName(s) {
			t.Errorf("ValidName(SanitizeName(%q)) = false, want true for %q", tt.in, s)
		}
	}
}

func TestEndpointURLNamesTheSession(t *testing.T) {
	t.Parallel()
	if got, want := EndpointURL("app_1", "dev"), "herald-listen://app_1/dev"; got != want {
		t.Errorf("EndpointURL: got %q, want %q", got, want)
	}
	if got, want := EndpointUID("dev"), "listen-dev"; got != want {
		t.Errorf("EndpointUID: got %q, want %q", got, want)
	}
}

func TestCheckEventTypesAcceptsWhatTheAPIAccepts(t *testing.T) {
	t.Parallel()
	for _, types := range [][]string{nil, {"invoice.paid"}, {"a-b_c.D9", "x"}, {strings.Repeat("a", 256)}} {
		if err := CheckEventTypes(types); err != nil {
			t.Errorf("CheckEventTypes(%q): got %v, want nil", types, err)
		}
	}
}
