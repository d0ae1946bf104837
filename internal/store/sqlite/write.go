package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/herald"
)

// op is one write operation. It runs inside a transaction shared with other
// concurrent operations; when it fails, only its own changes are undone.
type op func(ctx context.Context, w *wtx) error

// wtx is the writer's transaction as seen by one batch of ops.
type wtx struct {
	tx    *sql.Tx
	bound map[*sql.Stmt]*sql.Stmt
}

// stmt returns s bound to the transaction. The writer has one connection,
// so the statement prepared at Open is reused, not prepared again.
func (w *wtx) stmt(ctx context.Context, s *sql.Stmt) *sql.Stmt {
	if b, ok := w.bound[s]; ok {
		return b
	}
	b := w.tx.StmtContext(ctx, s)
	w.bound[s] = b
	return b
}

func (w *wtx) exec(ctx context.Context, s *sql.Stmt, args ...any) (sql.Result, error) {
	return w.stmt(ctx, s).ExecContext(ctx, args...)
}

// write runs fn as one op of the group commit and maps its error.
func (db *DB) write(ctx context.Context, fn op) error {
	return db.gc.Do(ctx, fn)
}

// runBatch executes ops in one transaction. With more than one op, each
// runs inside a savepoint so a failing op (say, a reused eventId) leaves the
// others to commit.
func (db *DB) runBatch(ctx context.Context, ops []op) []error {
	errs := make([]error, len(ops))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("begin write: %w: %w", herald.ErrUnavailable, err))
	}
	w := &wtx{tx: tx, bound: make(map[*sql.Stmt]*sql.Stmt, 16)}
	if len(ops) == 1 {
		if err := ops[0](ctx, w); err != nil {
			_ = tx.Rollback()
			return fail(err)
		}
	} else {
		for i, o := range ops {
			if _, err := w.exec(ctx, db.st.savepoint); err != nil {
				_ = tx.Rollback()
				return fail(fmt.Errorf("savepoint: %w", err))
			}
			errs[i] = o(ctx, w)
			if errs[i] != nil {
				if _, err := w.exec(ctx, db.st.rollbackTo); err != nil {
					_ = tx.Rollback()
					return fail(fmt.Errorf("rollback to savepoint: %w", err))
				}
			}
			if _, err := w.exec(ctx, db.st.release); err != nil {
				_ = tx.Rollback()
				return fail(fmt.Errorf("release savepoint: %w", err))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w: %w", herald.ErrUnavailable, err))
	}
	return errs
}

// stmts are the writer's prepared statements for the hot path.
type stmts struct {
	savepoint, rollbackTo, release *sql.Stmt

	eventIDTaken, insertMessage, insertDelivery *sql.Stmt

	claim *sql.Stmt

	insertAttempt, recordDelivery                     *sql.Stmt
	endpointHealthy, endpointFailing, disableEndpoint *sql.Stmt
	cancelEndpointDeliveries                          *sql.Stmt
	extendLeases, releaseOwnerLeases, releaseLease    *sql.Stmt
	all                                               []*sql.Stmt
}

func prepare(ctx context.Context, writer *sql.DB) (*stmts, error) {
	s := &stmts{}
	var err error
	p := func(dst **sql.Stmt, query string) {
		if err != nil {
			return
		}
		var st *sql.Stmt
		if st, err = writer.PrepareContext(ctx, query); err != nil {
			err = fmt.Errorf("prepare %q: %w", query, err)
			return
		}
		*dst = st
		s.all = append(s.all, st)
	}
	p(&s.savepoint, "SAVEPOINT op")
	p(&s.rollbackTo, "ROLLBACK TO op")
	p(&s.release, "RELEASE op")
	p(&s.eventIDTaken, sqlEventIDTaken)
	p(&s.insertMessage, sqlInsertMessage)
	p(&s.insertDelivery, sqlInsertDelivery)
	p(&s.claim, sqlClaim)
	p(&s.insertAttempt, sqlInsertAttempt)
	p(&s.recordDelivery, sqlRecordDelivery)
	p(&s.endpointHealthy, sqlEndpointHealthy)
	p(&s.endpointFailing, sqlEndpointFailing)
	p(&s.disableEndpoint, sqlDisableEndpoint)
	p(&s.cancelEndpointDeliveries, sqlCancelEndpointDeliveries)
	p(&s.extendLeases, sqlExtendLeases)
	p(&s.releaseOwnerLeases, sqlReleaseOwnerLeases)
	p(&s.releaseLease, sqlReleaseLease)
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stmts) close() {
	for _, st := range s.all {
		_ = st.Close()
	}
}

// errNoRows reports whether err means no row matched.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
