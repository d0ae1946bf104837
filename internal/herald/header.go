package herald

import "strings"

// MaxHeaders bounds an endpoint's custom headers.
const MaxHeaders = 64

// CheckHeader validates one custom header of an endpoint, by the rules the
// API and the dashboard share, so a header either can set the other can
// save too. The error is EINVALID, with a detail naming the header.
func CheckHeader(name, value string) error {
	if name == "" || len(name) > 256 {
		return Errorf(EINVALID, "Header names must be 1 to 256 characters")
	}
	for i := 0; i < len(name); i++ {
		if !tokenChar(name[i]) {
			return Errorf(EINVALID, "Header name %q is not a valid HTTP header name", name)
		}
	}
	if ReservedHeader(name) {
		return Errorf(EINVALID, "Header %q is set by Herald and cannot be overridden", name)
	}
	if len(value) > 4096 {
		return Errorf(EINVALID, "The value of header %q must be at most 4096 characters", name)
	}
	if !ValidHeaderValue(value) {
		return Errorf(EINVALID, "The value of header %q must be on one line, without control characters other than tab", name)
	}
	return nil
}

// CheckHeaderCount refuses more than MaxHeaders custom headers: past that
// every later change of the endpoint's headers would be refused.
func CheckHeaderCount(n int) error {
	if n > MaxHeaders {
		return Errorf(EINVALID, "An endpoint may have at most %d custom headers", MaxHeaders)
	}
	return nil
}

// ReservedHeader reports whether a custom header named name would clash
// with what Herald itself sends, or with hop-by-hop semantics.
func ReservedHeader(name string) bool {
	lower := strings.ToLower(name)
	switch lower {
	case "host", "content-length", "content-type", "connection", "transfer-encoding", "te",
		"upgrade", "keep-alive", "expect", "user-agent", "trailer", "proxy-connection":
		return true
	}
	return strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "svix-") || strings.HasPrefix(lower, "x-forwarded-")
}

// tokenChar reports whether b may appear in an HTTP header name (an RFC
// 9110 token).
func tokenChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// ValidHeaderValue reports whether v can be sent as a header value:
// net/http's client refuses control characters other than tab, and DEL
// (httpguts.ValidHeaderFieldValue), so an endpoint header holding one
// would fail every delivery.
func ValidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
