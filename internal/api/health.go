package api

import (
	_ "embed"
	"net/http"

	"github.com/heraldhq/herald/internal/herald"
)

//go:embed openapi.json
var openapiDoc []byte

// health answers 204 when the store answers, 503 otherwise.
func (s *Server) health(c *call) error {
	if err := s.store.Ping(c.ctx); err != nil {
		s.log.Warn("health check failed", "err", err)
		return c.json(http.StatusServiceUnavailable, errorBody{Code: herald.EUNAVAILABLE, Detail: "The database is not answering"})
	}
	return c.noContent(http.StatusNoContent)
}

// ping answers 204 while the process serves requests.
func (s *Server) ping(c *call) error { return c.noContent(http.StatusNoContent) }

// openapi serves the API description.
func (s *Server) openapi(c *call) error {
	c.w.Header().Set("Cache-Control", "public, max-age=3600")
	writeRaw(c.w, http.StatusOK, openapiDoc)
	return nil
}
