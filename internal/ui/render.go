package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// pages holds one parsed template set per page, each with the layout.
type pages struct {
	set map[string]*template.Template
}

// parsePages parses every page template together with the layout and the
// shared parts.
func parsePages() (*pages, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: list templates: %w", err)
	}
	p := &pages{set: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" || base == "parts.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/parts.html", n)
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", base, err)
		}
		p.set[strings.TrimSuffix(base, ".html")] = t
	}
	return p, nil
}

// view is what every page template receives.
type view struct {
	Title    string
	Nav      string // the active navigation item
	Portal   bool   // portal layout: one application, no operator links
	Bare     bool   // no navigation: the login and portal entry pages
	AppName  string // the portal's application
	ReadOnly bool   // a read-only portal link: no control that changes anything
	CSRF     string
	Refresh  int64 // milliseconds between live refreshes
	Flash    string
	Data     any
}

// render writes page name with v.
func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	t, ok := s.pages.set[name]
	if !ok {
		s.log.Error("ui: missing template", "template", name)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	v.Refresh = s.refresh.Milliseconds()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("ui: render", "template", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders err as an error page with the status its code maps to.
// Internal errors are logged and shown without detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v view, err error) {
	status := statusOf(err)
	if status >= 500 {
		s.log.Error("ui: request failed", "path", r.URL.Path, "err", err)
	}
	v.Title = http.StatusText(status)
	v.Data = struct {
		Status int
		Detail string
	}{status, herald.ErrorDetail(err)}
	s.render(w, status, "error", v)
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	switch herald.ErrorCode(err) {
	case herald.ENOTFOUND:
		return http.StatusNotFound
	case herald.EINVALID, herald.EBADREQUEST:
		return http.StatusBadRequest
	case herald.ECONFLICT:
		return http.StatusConflict
	case herald.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case herald.EFORBIDDEN:
		return http.StatusForbidden
	case herald.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case herald.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// errForbidden is the error of a request that failed the CSRF check.
var errForbidden = herald.Errorf(herald.EFORBIDDEN, "The form has expired or came from another site; reload the page and try again")

// flashes are the messages a redirect after an action may show, by key.
var flashes = map[string]string{
	"retried":   "Retry scheduled.",
	"recovered": "Recovery scheduled.",
	"enabled":   "Endpoint enabled.",
	"disabled":  "Endpoint disabled.",
	"rotated":   "Signing secret rotated; the previous one keeps signing for 24 hours.",
	"saved":     "Changes saved.",
	"created":   "Endpoint created.",
	"deleted":   "Endpoint deleted.",
	"loggedout": "You are logged out.",
}

var funcs = template.FuncMap{
	"dict":     dict,
	"when":     fmtTime,
	"ago":      ago,
	"status":   func(s herald.MessageStatus) string { return s.String() },
	"pretty":   prettyJSON,
	"short":    short,
	"dur":      fmtDuration,
	"join":     strings.Join,
	"pct":      pct,
	"codeText": codeText,
	"trigger":  triggerText,
	// verifyingKey is what a secret is shown as: never an ed25519 private key.
	"verifyingKey": webhook.VerifyingKey,
	"has": func(l []string, s string) bool {
		for _, v := range l {
			if v == s {
				return true
			}
		}
		return false
	},
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago says how long before now t was, roughly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + roughDuration(-d)
	case d < 5*time.Second:
		return "just now"
	}
	return roughDuration(d) + " ago"
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func fmtDuration(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return d.Round(100 * time.Millisecond).String()
}

// prettyJSON indents a JSON payload for display; other bytes are shown
// as they are.
func prettyJSON(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// short cuts s to n characters.
func short(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func pct(part, total int64) string {
	if total == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(total))
}

// codeText describes an attempt's outcome: its HTTP status, or why none
// arrived.
func codeText(code int, errClass any) string {
	if code == 0 {
		class := fmt.Sprint(errClass)
		if class == "" {
			return "no response"
		}
		return strings.ReplaceAll(class, "_", " ")
	}
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

func triggerText(t herald.Trigger) string {
	switch t {
	case herald.TriggerManual:
		return "manual"
	case herald.TriggerRecovery:
		return "recovery"
	}
	return "scheduled"
}

// dict builds a map from key, value pairs, so a template can pass several
// values to a shared part.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
