package api

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Pagination limits, as Svix has them.
const (
	defaultLimit = 50
	maxLimit     = 250
)

// pageQuery is a parsed limit/iterator/order.
type pageQuery struct {
	limit    int
	iterator string
	prev     bool // iterator came from prevIterator ("-" prefix): page backwards
	desc     bool // order=descending
}

// parsePage reads limit and iterator from q. Lists without an order
// parameter (messages, attempts) ignore one, as Svix ignores unknown
// query parameters.
func parsePage(q url.Values) (pageQuery, error) {
	p := pageQuery{limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, invalidQuery("limit", "limit must be an integer between 1 and %d", maxLimit)
		}
		p.limit = n
	}
	if it := q.Get("iterator"); it != "" {
		if rest, ok := strings.CutPrefix(it, "-"); ok {
			p.prev, it = true, rest
		}
		if len(it) > 512 {
			return p, invalidQuery("iterator", "iterator is too long")
		}
		p.iterator = it
	}
	return p, nil
}

// parseOrderedPage is parsePage for the lists the spec gives an order
// parameter (applications, endpoints, event types); desc is the default.
func parseOrderedPage(q url.Values, desc bool) (pageQuery, error) {
	p, err := parsePage(q)
	if err != nil {
		return p, err
	}
	switch q.Get("order") {
	case "":
		p.desc = desc
	case "ascending":
	case "descending":
		p.desc = true
	default:
		return p, invalidQuery("order", "order must be ascending or descending")
	}
	return p, nil
}

// storePage returns the store page that fetches one row more than asked,
// so the response can tell whether the list is done.
func (p pageQuery) storePage() store.Page {
	return store.Page{Limit: p.limit + 1, Iterator: p.iterator, Desc: p.desc != p.prev}
}

// listOut is Svix's ListResponse.
type listOut[T any] struct {
	Data         []T     `json:"data"`
	Iterator     *string `json:"iterator"`
	PrevIterator *string `json:"prevIterator,omitempty"`
	Done         bool    `json:"done"`
}

// listPage builds a list response from rows fetched with storePage: it
// drops the extra row, restores order after a backwards page, and sets the
// iterators. withPrev adds prevIterator for lists that can page backwards.
func listPage[R, T any](p pageQuery, rows []R, id func(*R) string, out func(*R) T, withPrev bool) listOut[T] {
	done := len(rows) <= p.limit
	if !done {
		rows = rows[:p.limit]
	}
	if p.prev {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	res := listOut[T]{Data: make([]T, 0, len(rows)), Done: done}
	for i := range rows {
		res.Data = append(res.Data, out(&rows[i]))
	}
	if n := len(rows); n > 0 {
		last := id(&rows[n-1])
		res.Iterator = &last
		if withPrev {
			first := "-" + id(&rows[0])
			res.PrevIterator = &first
		}
	}
	return res
}

// parseTime reads an RFC 3339 query parameter; empty gives the zero time.
func parseTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalidQuery(name, "%s must be an RFC 3339 date-time", name)
	}
	return t, nil
}

// parseBool reads a boolean query parameter with a default.
func parseBool(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, invalidQuery(name, "%s must be true or false", name)
	}
	return b, nil
}

// maxEventTypesFilter bounds the distinct event types a list may filter
// on. Svix sets no bound, but every one is a query parameter, and SQLite
// refuses a query with more than 32766 of them; real filters name a few.
const maxEventTypesFilter = 100

// parseEventTypes reads event_types, given repeated or comma-separated,
// without repeats. Like Svix's EventTypesQuery it also takes the keys
// event_types[] and event_types[N] that some clients send for arrays.
func parseEventTypes(q url.Values) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	for key, vs := range q {
		if key != "event_types" && !(strings.HasPrefix(key, "event_types[") && strings.HasSuffix(key, "]")) {
			continue
		}
		for _, v := range vs {
			for t := range strings.SplitSeq(v, ",") {
				if t == "" || seen[t] {
					continue
				}
				if err := checkName("event_types", t, 256); err != nil {
					return nil, invalidQuery("event_types", "event_types may contain only letters, digits, '-', '_' and '.'")
				}
				if len(out) == maxEventTypesFilter {
					return nil, invalidQuery("event_types", "event_types may name at most %d distinct event types", maxEventTypesFilter)
				}
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// parseChannel reads the channel filter.
func parseChannel(q url.Values) (string, error) {
	v := q.Get("channel")
	if v == "" {
		return "", nil
	}
	if err := checkName("channel", v, 128); err != nil {
		return "", invalidQuery("channel", "channel may contain only letters, digits, '-', '_' and '.', up to 128")
	}
	return v, nil
}

// listQuery is the filters message and attempt lists share.
type listQuery struct {
	channel     string
	eventTypes  []string
	before      time.Time
	after       time.Time
	withContent bool
}

// parseListQuery reads channel, event_types, before, after and
// with_content, and applies before and after to p as Svix's
// iterator_from_before_or_after does: both are ignored beside an
// iterator, and after alone pages backwards from after, so that the page
// holds the first items after it (newest first, with prevIterator to go
// on forwards in time). Svix says not to send both; given both, Herald
// keeps both as bounds of a newest-first page (Svix would drop after).
func parseListQuery(q url.Values, p *pageQuery) (l listQuery, err error) {
	if l.channel, err = parseChannel(q); err != nil {
		return l, err
	}
	if l.eventTypes, err = parseEventTypes(q); err != nil {
		return l, err
	}
	if l.before, err = parseTime(q, "before"); err != nil {
		return l, err
	}
	if l.after, err = parseTime(q, "after"); err != nil {
		return l, err
	}
	switch {
	case p.iterator != "":
		l.before, l.after = time.Time{}, time.Time{}
	case l.before.IsZero() && !l.after.IsZero():
		p.prev = true
	}
	l.withContent, err = parseBool(q, "with_content", true)
	return l, err
}
