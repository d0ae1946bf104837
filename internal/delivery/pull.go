package delivery

import "strings"

// PollScheme is the URL scheme of polling endpoints:
// herald-poll://<app_id>/<name>. Their consumers pull the application's
// messages through the poller API, so Herald never dials them and creates
// no deliveries for them.
const PollScheme = "herald-poll"

// IsPollURL reports whether u names a polling endpoint.
func IsPollURL(u string) bool {
	return strings.HasPrefix(u, PollScheme+"://")
}
