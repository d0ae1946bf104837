package webhook

import "strings"

// maxSignatures caps how many entries of a webhook-signature header are
// checked, so a header stuffed with thousands of entries cannot make one
// request cost thousands of ed25519 verifications. Rotation needs two or
// three.
const maxSignatures = 32

// signature is one "version,value" entry of a webhook-signature header.
type signature struct {
	version string // "v1", "v1a", or a version this package ignores
	value   string // base64 of the MAC or ed25519 signature
}

// parseSignatureHeader splits a webhook-signature header into its
// space-separated entries. Entries without a comma, or with an empty
// version or value, are skipped, as are entries past maxSignatures.
func parseSignatureHeader(header string) []signature {
	var sigs []signature
	for header != "" && len(sigs) < maxSignatures {
		var entry string
		entry, header, _ = strings.Cut(header, " ")
		version, value, ok := strings.Cut(entry, ",")
		if !ok || version == "" || value == "" {
			continue
		}
		sigs = append(sigs, signature{version: version, value: value})
	}
	return sigs
}
