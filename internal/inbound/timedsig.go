package inbound

import (
	"encoding/hex"
	"strings"
)

// timedSignature is a parsed header of the form Stripe and Paddle use: a
// timestamp and one or more hex signatures as key=value items.
type timedSignature struct {
	ts   string   // the timestamp exactly as sent: it is part of the signed content
	sigs [][]byte // decoded signatures of the expected scheme
}

// parseStripeSignature parses "t=<unix>,v1=<hex>[,v1=<hex>...]". Other
// schemes (v0) are ignored.
func parseStripeSignature(header string) (timedSignature, error) {
	return parseTimedSignature("Stripe-Signature", header, ",", "t", "v1")
}

// parsePaddleSignature parses "ts=<unix>;h1=<hex>[;h1=<hex>...]".
func parsePaddleSignature(header string) (timedSignature, error) {
	return parseTimedSignature("Paddle-Signature", header, ";", "ts", "h1")
}

// parseTimedSignature splits header on sep into key=value items. It wants
// exactly one tsKey item holding digits and at least one sigKey item;
// undecodable signatures are skipped, since they cannot match anyway.
func parseTimedSignature(name, header, sep, tsKey, sigKey string) (timedSignature, error) {
	var out timedSignature
	seenTS, seenSig := false, false
	for _, item := range strings.Split(header, sep) {
		key, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case tsKey:
			if seenTS {
				return timedSignature{}, malformed("%s has more than one %s", name, tsKey)
			}
			seenTS = true
			out.ts = value
		case sigKey:
			seenSig = true
			if sig, err := hex.DecodeString(value); err == nil {
				out.sigs = append(out.sigs, sig)
			}
		}
	}
	switch {
	case !seenTS:
		return timedSignature{}, malformed("%s has no %s timestamp", name, tsKey)
	case !digits(out.ts):
		return timedSignature{}, malformed("%s timestamp %q is not a unix time", name, truncate(out.ts))
	case !seenSig:
		return timedSignature{}, missing("%s has no %s signature", name, sigKey)
	}
	return out, nil
}

// digits reports whether s is a non-empty run of ASCII digits of a sane
// length for a unix time.
func digits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
