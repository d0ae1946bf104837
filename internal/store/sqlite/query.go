package sqlite

import (
	"strings"

	"github.com/heraldhq/herald/internal/store"
)

// where gathers the conditions of a list query. The SQL is fixed text
// chosen here; user input only ever travels as arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// in adds "col IN (?, ...)" for a non-empty list.
func (w *where) in(col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	w.add(col+" IN ("+placeholders(len(vals))+")", args...)
}

// page adds the cursor condition of p on col and returns the ORDER BY and
// LIMIT clause. newestFirst flips the default order, and p.Desc reverses
// either (a newest-first list paging back from a prevIterator).
func (w *where) page(col string, p store.Page, newestFirst bool) string {
	desc := p.Desc != newestFirst
	if p.Iterator != "" {
		if desc {
			w.add(col+" < ?", p.Iterator)
		} else {
			w.add(col+" > ?", p.Iterator)
		}
	}
	w.args = append(w.args, limitOf(p.Limit))
	if desc {
		return " ORDER BY " + col + " DESC LIMIT ?"
	}
	return " ORDER BY " + col + " LIMIT ?"
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
