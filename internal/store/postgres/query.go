package postgres

import (
	"time"

	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/store"
)

// query assembles a statement from constant fragments and numbered
// arguments. Only arguments carry caller data; the SQL text never does.
type query struct {
	sql  strings.Builder
	args []any
}

// arg records v and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) add(fragments ...string) {
	for _, f := range fragments {
		q.sql.WriteString(f)
	}
}

// page appends the iterator bound, the order and the limit of p on column
// col (a unique, sortable ID). Lists run oldest first, or newest first
// with newestFirst (messages and attempts); p.Desc reverses either, which
// is how a newest-first list pages back from a prevIterator.
func (q *query) page(col string, p store.Page, newestFirst bool) {
	desc := p.Desc != newestFirst
	if p.Iterator != "" {
		if desc {
			q.add(" AND ", col, " < ", q.arg(p.Iterator))
		} else {
			q.add(" AND ", col, " > ", q.arg(p.Iterator))
		}
	}
	if desc {
		q.add(" ORDER BY ", col, " DESC")
	} else {
		q.add(" ORDER BY ", col)
	}
	if p.Limit > 0 {
		q.add(" LIMIT ", q.arg(p.Limit))
	}
}

func (q *query) String() string { return q.sql.String() }

// messageBounds appends message filters on the messages aliased by prefix
// ("m."): a channel the message carries, one of eventTypes, and creation
// strictly before and after the given times (zero: no bound).
func (q *query) messageBounds(prefix, channel string, eventTypes []string, before, after time.Time) {
	if channel != "" {
		q.add(" AND ", prefix, "channels ? ", q.arg(channel))
	}
	if len(eventTypes) > 0 {
		q.add(" AND ", prefix, "event_type = ANY(", q.arg(eventTypes), "::text[])")
	}
	q.timeBounds(prefix, before, after)
}

// timeBounds appends created_at < before and created_at > after on the
// table aliased by prefix, for the bounds that are set.
func (q *query) timeBounds(prefix string, before, after time.Time) {
	if !before.IsZero() {
		q.add(" AND ", prefix, "created_at < ", q.arg(ms(before)))
	}
	if !after.IsZero() {
		q.add(" AND ", prefix, "created_at > ", q.arg(ms(after)))
	}
}

// timeRange appends created_at >= since and created_at < until on the
// table aliased by prefix, for the bounds that are set.
func (q *query) timeRange(prefix string, since, until time.Time) {
	if !since.IsZero() {
		q.add(" AND ", prefix, "created_at >= ", q.arg(ms(since)))
	}
	if !until.IsZero() {
		q.add(" AND ", prefix, "created_at < ", q.arg(ms(until)))
	}
}
