package ui

import "net/http"

// routes is the one route table. Operator routes go through s.admin and
// portal routes through s.portal; both check the CSRF token of POSTs.
func (s *Server) routes() {
	m := &routeTable{mux: s.mux, patterns: &s.patterns}
	m.Handle("GET /ui/static/", s.static)
	m.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})

	m.HandleFunc("GET /ui/login", s.loginPage)
	m.HandleFunc("POST /ui/login", s.login)
	m.HandleFunc("POST /ui/logout", s.admin(s.logout))

	m.HandleFunc("GET /ui/{$}", s.admin(s.overview))
	m.HandleFunc("GET /ui/apps", s.admin(s.apps))
	m.HandleFunc("GET /ui/apps/{app}", s.admin(s.app))
	m.HandleFunc("GET /ui/apps/{app}/endpoints/{ep}", s.admin(s.endpoint))
	m.HandleFunc("POST /ui/apps/{app}/endpoints/{ep}/{action}", s.admin(s.endpointAction))
	m.HandleFunc("POST /ui/apps/{app}/pollers", s.admin(s.createPoller))
	m.HandleFunc("GET /ui/apps/{app}/messages/{msg}", s.admin(s.message))
	m.HandleFunc("POST /ui/apps/{app}/messages/{msg}/retry", s.admin(s.retry))
	m.HandleFunc("GET /ui/messages", s.admin(s.messages))
	m.HandleFunc("GET /ui/failed", s.admin(s.failed))
	m.HandleFunc("POST /ui/failed/recover", s.admin(s.recoverSince))
	m.HandleFunc("GET /ui/event-types", s.admin(s.eventTypes))
	m.HandleFunc("GET /ui/sources", s.admin(s.sources))
	m.HandleFunc("GET /ui/sources/{src}", s.admin(s.source))

	m.HandleFunc("GET /ui/portal", s.portalEntry)
	m.HandleFunc("POST /ui/portal/session", s.portalSession)
	m.HandleFunc("POST /ui/portal/logout", s.portal(s.portalLogout))
	m.HandleFunc("GET /ui/portal/home", s.portal(s.portalHome))
	m.HandleFunc("GET /ui/portal/endpoints/new", s.portal(s.portalNewEndpoint))
	m.HandleFunc("POST /ui/portal/endpoints", s.portal(s.portalCreateEndpoint))
	m.HandleFunc("GET /ui/portal/endpoints/{ep}", s.portal(s.portalEndpoint))
	m.HandleFunc("POST /ui/portal/endpoints/{ep}", s.portal(s.portalUpdateEndpoint))
	m.HandleFunc("POST /ui/portal/endpoints/{ep}/delete", s.portal(s.portalDeleteEndpoint))
	m.HandleFunc("POST /ui/portal/endpoints/{ep}/rotate", s.portal(s.portalRotate))
	m.HandleFunc("GET /ui/portal/messages", s.portal(s.portalMessages))
	m.HandleFunc("GET /ui/portal/messages/{msg}", s.portal(s.portalMessage))
	m.HandleFunc("POST /ui/portal/messages/{msg}/retry", s.portal(s.portalRetry))
}

// routeTable registers routes on the mux and keeps their patterns, so
// tests can walk every route (the portal isolation matrix) without a list
// of their own.
type routeTable struct {
	mux      *http.ServeMux
	patterns *[]string
}

func (t *routeTable) Handle(pattern string, h http.Handler) {
	*t.patterns = append(*t.patterns, pattern)
	t.mux.Handle(pattern, h)
}

func (t *routeTable) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	*t.patterns = append(*t.patterns, pattern)
	t.mux.HandleFunc(pattern, h)
}
