package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/herald"
)

// maxHeaders bounds an endpoint's custom headers.
const maxHeaders = 64

func tooManyHeaders() error {
	return invalidBody("headers", "An endpoint may have at most %d custom headers", maxHeaders)
}

// sensitiveHeaders are custom headers whose values the API never shows;
// their names are listed in "sensitive" instead.
var sensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}

// reservedHeader reports whether a custom header would clash with what
// Herald itself sends, or with hop-by-hop semantics.
func reservedHeader(lower string) bool {
	switch lower {
	case "host", "content-length", "content-type", "connection", "transfer-encoding", "te",
		"upgrade", "keep-alive", "expect", "user-agent", "trailer", "proxy-connection":
		return true
	}
	return strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "svix-") || strings.HasPrefix(lower, "x-forwarded-")
}

// tokenChar reports whether b may appear in an HTTP header name.
func tokenChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// checkHeader validates one custom header.
func checkHeader(name, value string) error {
	if name == "" || len(name) > 256 {
		return invalidBody("headers", "Header names must be 1 to 256 characters")
	}
	for i := 0; i < len(name); i++ {
		if !tokenChar(name[i]) {
			return invalidBody("headers", "Header name %q is not a valid HTTP header name", name)
		}
	}
	if reservedHeader(strings.ToLower(name)) {
		return invalidBody("headers", "Header %q is set by Herald and cannot be overridden", name)
	}
	if len(value) > 4096 {
		return invalidBody("headers", "The value of header %q must be at most 4096 characters", name)
	}
	if !herald.ValidHeaderValue(value) {
		return invalidBody("headers", "The value of header %q must be on one line, without control characters other than tab", name)
	}
	return nil
}

type endpointHeadersIn struct {
	Headers map[string]string `json:"headers"`
}

type endpointHeadersPatchIn struct {
	Headers map[string]*string `json:"headers"`
}

type endpointHeadersOut struct {
	Headers   map[string]string `json:"headers"`
	Sensitive []string          `json:"sensitive"`
}

func (s *Server) getEndpointHeaders(c *call) error {
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	out := endpointHeadersOut{Headers: map[string]string{}, Sensitive: []string{}}
	for k, v := range ep.Headers {
		if slices.Contains(sensitiveHeaders, strings.ToLower(k)) {
			out.Sensitive = append(out.Sensitive, k)
			continue
		}
		out.Headers[k] = v
	}
	slices.Sort(out.Sensitive)
	return c.json(http.StatusOK, out)
}

func (s *Server) updateEndpointHeaders(c *call) error {
	var in endpointHeadersIn
	if err := c.body(&in); err != nil {
		return err
	}
	if in.Headers == nil {
		return invalidBody("headers", "headers is required")
	}
	for k, v := range in.Headers {
		if err := checkHeader(k, v); err != nil {
			return err
		}
	}
	if len(in.Headers) > maxHeaders {
		return tooManyHeaders()
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	return s.saveHeaders(c, ep.ID, func(map[string]string) map[string]string { return in.Headers })
}

// patchEndpointHeaders merges headers in; a null value removes a header.
func (s *Server) patchEndpointHeaders(c *call) error {
	var in endpointHeadersPatchIn
	if err := c.body(&in); err != nil {
		return err
	}
	if in.Headers == nil {
		return invalidBody("headers", "headers is required")
	}
	for k, v := range in.Headers {
		if v == nil {
			continue
		}
		if err := checkHeader(k, *v); err != nil {
			return err
		}
	}
	ep, err := s.endpoint(c)
	if err != nil {
		return err
	}
	return s.saveHeaders(c, ep.ID, func(stored map[string]string) map[string]string {
		merged := make(map[string]string, len(stored)+len(in.Headers))
		for k, v := range stored {
			merged[k] = v
		}
		for k, v := range in.Headers {
			// Header names are case-insensitive: a patch replaces any spelling.
			for old := range merged {
				if strings.EqualFold(old, k) {
					delete(merged, old)
				}
			}
			if v != nil {
				merged[k] = *v
			}
		}
		return merged
	})
}

// saveHeaders sets the endpoint's custom headers to what headers makes of
// the stored ones, in the store's transaction, so a concurrent change of
// the endpoint (a rotation, the engine disabling it) is kept.
func (s *Server) saveHeaders(c *call, id string, headers func(stored map[string]string) map[string]string) error {
	ep, err := s.store.UpdateEndpoint(c.ctx, c.app.ID, id, func(ep *herald.Endpoint) error {
		h := headers(ep.Headers)
		if len(h) > maxHeaders {
			return tooManyHeaders()
		}
		ep.Headers, ep.UpdatedAt = h, c.now
		return nil
	})
	if err != nil {
		return err
	}
	s.pub.InvalidateEndpoints(c.app.ID)
	s.events.EndpointUpdated(c.app, ep, false)
	return c.noContent(http.StatusNoContent)
}
