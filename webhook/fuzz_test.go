package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseSignatureHeader(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add("v1,a v2,b  v1a,c ")
	f.Add(",,, v1, ,x")
	f.Add(strings.Repeat("v1,x ", 100))
	f.Fuzz(func(t *testing.T, header string) {
		sigs := parseSignatureHeader(header)
		if len(sigs) > maxSignatures {
			t.Fatalf("entries: got %d, want at most %d", len(sigs), maxSignatures)
		}
		for _, s := range sigs {
			if s.version == "" || s.value == "" || strings.Contains(s.version, ",") ||
				strings.Contains(s.version+s.value, " ") {
				t.Fatalf("entry %+v of %q: want a non-empty version without comma or space and a non-empty value", s, header)
			}
			if !strings.Contains(header, s.version+","+s.value) {
				t.Fatalf("entry %+v is not in header %q", s, header)
			}
		}
	})
}

// FuzzVerify feeds arbitrary headers and bodies to Verify, which must never
// panic and must accept only what the signer signed.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("msg_1", "99999999999999999999", "v1,", []byte{})
	f.Add("", "-5", "v1a,AAAA v1,====", []byte("x"))
	f.Add("id", "0", "v1,"+strings.Repeat("A", 44)+" v1a,"+strings.Repeat("A", 88), []byte("{}"))
	v, err := NewVerifier(secret)
	if err != nil {
		f.Fatal(err)
	}
	v.Tolerance = SkipTimestampCheck
	s, err := NewSigner(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, timestamp, sig string, payload []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, timestamp)
		h.Set(HeaderSignature, sig)
		err := v.Verify(payload, h)
		if err == nil {
			ts, perr := strconv.ParseInt(timestamp, 10, 64)
			if perr != nil {
				t.Fatalf("accepted unparsable timestamp %q", timestamp)
			}
			if !strings.Contains(sig, s.Sign(id, time.Unix(ts, 0), payload)) {
				t.Fatalf("accepted a signature header %q that does not hold the real signature", sig)
			}
		}
	})
}
