package ui

import (
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/heraldhq/herald/internal/herald"
)

// Request bodies. Every dashboard form is sent URL-encoded (none has an
// enctype), and net/http would otherwise parse up to 10 MiB of one in
// memory and spool multipart bodies to disk without a cap.
const (
	// maxFormBytes caps every body the dashboard reads. The largest form
	// is an endpoint's custom headers: 64 headers of a 256-byte name and a
	// 4096-byte value, up to 820 KiB once every byte is percent-encoded
	// (about 280 KiB as typed). The endpoint forms (a URL of up to 64 KiB,
	// a description, the event types checked) stay well below that unless
	// thousands of event types are checked.
	maxFormBytes = 1 << 20
	// maxOpenFormBytes caps the forms anyone may post without a session:
	// the login form (the admin token, which must fit in the API's 64 KiB
	// of headers too) and the portal's key exchange (a 49-byte key).
	maxOpenFormBytes = 64 << 10
	// formType is the only content type a body may have.
	formType = "application/x-www-form-urlencoded"
)

// limitBody refuses, with 415, a body that is not a URL-encoded form, and
// caps what may be read of the rest at maxFormBytes. It reports whether
// the request may go on. A request without a body needs no content type.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if r.ContentLength != 0 {
		if t, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || t != formType {
			// The body is never read: close the connection rather than
			// drain what may be a large upload.
			w.Header().Set("Connection", "close")
			s.refuse(w, r, http.StatusUnsupportedMediaType, "Dashboard forms are sent as "+formType+"; this request was not.")
			return false
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return true
}

// refuse renders an error page with status and detail, for a request
// refused before any route ran.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, detail string) {
	s.render(w, status, "error", view{Title: http.StatusText(status), Bare: true, Data: struct {
		Status int
		Detail string
	}{status, detail}})
}

// parseForm reads r's form, which the routes read with PostFormValue, so
// that a body too large is answered 413 (ETOOLARGE) rather than read as
// an empty form. limit, when positive, lowers the cap limitBody set.
func parseForm(w http.ResponseWriter, r *http.Request, limit int64) error {
	if limit > 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	err := r.ParseForm()
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return herald.Errorf(herald.ETOOLARGE, "The form is too large: at most %s are accepted.", byteSize(tooBig.Limit))
	case err != nil:
		return herald.Errorf(herald.EBADREQUEST, "The form could not be read.")
	}
	return nil
}

// byteSize writes n bytes as whole MiB or KiB.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n>>10, 10) + " KiB"
}
