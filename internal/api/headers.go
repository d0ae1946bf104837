package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/herald"
)

// sensitiveHeaders are custom headers whose values the API never shows;
// their names are listed in "sensitive" instead.
var sensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}

// checkHeader validates one custom header by the rules the dashboard
// shares (herald.CheckHeader).
func checkHeader(name, value string) error {
	return headersField(herald.CheckHeader(name, value))
}

// checkHeaderCount refuses more than herald.MaxHeaders custom headers.
func checkHeaderCount(n int) error {
	return headersField(herald.CheckHeaderCount(n))
}

// headersField reports a refusal of a header rule as a field error of the
// body's headers.
func headersField(err error) error {
	if err == nil {
		return nil
	}
	return invalidBody("headers", "%s", herald.ErrorDetail(err))
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
	if err := checkHeaderCount(len(in.Headers)); err != nil {
		return err
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
		if err := checkHeaderCount(len(h)); err != nil {
			return err
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
