package herald

// NameChar reports whether b may appear in a Svix identifier: the pattern
// ^[a-zA-Z0-9\-_.]+$ shared by UIDs, event type names, channels and event
// IDs.
func NameChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.'
}

// ValidName reports whether v is a Svix identifier of 1 to max bytes.
func ValidName(v string, max int) bool {
	if v == "" || len(v) > max {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !NameChar(v[i]) {
			return false
		}
	}
	return true
}
