package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// op is one write operation. It runs inside a transaction shared with other
// concurrent operations; when it fails, only its own changes are undone.
// An op may run twice (see runBatch), so it must assign its outputs, never
// accumulate them.
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

// write runs fn as one op of the group commit. After Close, writes fail
// as unavailable, which the API answers with 503.
func (db *DB) write(ctx context.Context, fn op) error {
	return db.writeSpread(ctx, fn, 1)
}

// writeSpread is write for an operation that writes deliveries or
// attempts for spread endpoints (see store.GroupCommit.DoSpread).
func (db *DB) writeSpread(ctx context.Context, fn op, spread int) error {
	err := db.gc.DoSpread(ctx, fn, spread)
	if errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("sqlite write: %w: %w", herald.ErrUnavailable, err)
	}
	return err
}

// runBatch executes ops in one transaction. It first runs them plainly;
// if one fails, the transaction is rolled back and the batch runs again
// with each op inside a savepoint, so the failing op (say, a reused
// eventId) is undone alone and the others commit. Failures are rare, and
// savepoints cost three statements per op, so the common case skips them.
func (db *DB) runBatch(ctx context.Context, ops []op) []error {
	db.batch.Lock()
	defer db.batch.Unlock()
	errs, failed := db.tryBatch(ctx, ops, false)
	if failed && len(ops) > 1 {
		db.log.Debug("write batch retried with savepoints", "ops", len(ops), "error", errs[0])
		errs, _ = db.tryBatch(ctx, ops, true)
	}
	return errs
}

// tryBatch runs ops in one transaction. Without savepoints, the first
// failing op rolls back the transaction and failed is true.
func (db *DB) tryBatch(ctx context.Context, ops []op, savepoints bool) (errs []error, failed bool) {
	errs = make([]error, len(ops))
	fail := func(err error) ([]error, bool) {
		for i := range errs {
			errs[i] = err
		}
		return errs, true
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("begin write: %w: %w", herald.ErrUnavailable, err))
	}
	w := &wtx{tx: tx, bound: make(map[*sql.Stmt]*sql.Stmt, 16)}
	for i, o := range ops {
		if !savepoints {
			if err := o(ctx, w); err != nil {
				_ = tx.Rollback()
				if len(ops) == 1 {
					errs[0] = err
					return errs, true
				}
				return fail(fmt.Errorf("batch rolled back: %w", err))
			}
			continue
		}
		if _, err := w.exec(ctx, db.st.savepoint); err != nil {
			_ = tx.Rollback()
			return fail(fmt.Errorf("savepoint: %w", err))
		}
		if errs[i] = o(ctx, w); errs[i] != nil {
			failed = true
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
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w: %w", herald.ErrUnavailable, err))
	}
	db.cp.committed()
	return errs, failed
}

// stmts are the writer's prepared statements for the hot path.
type stmts struct {
	savepoint, rollbackTo, release *sql.Stmt

	eventIDTaken, insertMessage, insertDelivery, insertDeliveries *sql.Stmt

	unparkHeads, claim *sql.Stmt

	insertAttempt, recordDelivery                                        *sql.Stmt
	endpointHealthy, endpointFailing, endpointFailingAt, disableEndpoint *sql.Stmt
	cancelEndpointDeliveries                                             *sql.Stmt
	extendLease, releaseOwnerLeases, releaseLease, deferLease            *sql.Stmt
	all                                                                  []*sql.Stmt
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
	p(&s.insertDeliveries, sqlInsertDeliveries)
	p(&s.unparkHeads, sqlUnparkHeads)
	p(&s.claim, sqlClaim)
	p(&s.insertAttempt, sqlInsertAttempt)
	p(&s.recordDelivery, sqlRecordDelivery)
	p(&s.endpointHealthy, sqlEndpointHealthy)
	p(&s.endpointFailing, sqlEndpointFailing)
	p(&s.endpointFailingAt, sqlEndpointFailingAt)
	p(&s.disableEndpoint, sqlDisableEndpoint)
	p(&s.cancelEndpointDeliveries, sqlCancelEndpointDeliveries)
	p(&s.extendLease, sqlExtendLease)
	p(&s.releaseOwnerLeases, sqlReleaseOwnerLeases)
	p(&s.releaseLease, sqlReleaseLease)
	p(&s.deferLease, sqlDeferLease)
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
