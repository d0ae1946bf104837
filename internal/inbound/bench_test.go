package inbound

import "testing"

func BenchmarkVerify(b *testing.B) {
	body := `{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount":1000,"currency":"eur"}}}`
	cases := []struct {
		name string
		cfg  VerifierConfig
		req  Request
	}{
		{"stripe", VerifierConfig{Type: TypeStripe, Secrets: []string{"whsec_a", "whsec_b"}},
			Request{Header: headers("Stripe-Signature", "t=1700000000,v1="+hexMAC256("whsec_b", "1700000000.", body)), Body: []byte(body)}},
		{"github", VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}},
			Request{Header: headers("X-Hub-Signature-256", "sha256="+hexMAC256("s", body), "X-GitHub-Event", "push", "X-GitHub-Delivery", "d"), Body: []byte(body)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			v, err := NewVerifier(c.cfg, clock(t0))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(&c.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
