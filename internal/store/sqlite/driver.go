package sqlite

import "database/sql"

// Herald runs on one of two builds of the same SQLite: the C library
// through cgo (driver_cgo.go) wherever a C compiler is present, and the
// pure-Go translation (driver_purego.go) where none is, as with
// CGO_ENABLED=0. Both read and write the same files. The C build does the
// writer's work in about three quarters of the CPU time (see
// docs/benchmarks.md); the pure-Go one needs nothing but the Go toolchain.

// openConns returns a pool whose connections to the database file at path
// each run pragmas (name=value, as after PRAGMA) when opened. With
// immediate, transactions take the write lock when they begin, so a
// writer never fails to upgrade a read lock midway.
func openConns(path string, immediate bool, pragmas ...string) *sql.DB {
	return sql.OpenDB(newConnector(path, immediate, pragmas))
}

// SQLite's result codes that Herald maps to its own errors (see mapErr).
// An extended code's low byte is its primary code.
const (
	codeBusy     = 5
	codeIOErr    = 10
	codeFull     = 13
	codeCantOpen = 14

	codeConstraintForeignKey = 787
	codeConstraintPrimaryKey = 1555
	codeConstraintUnique     = 2067
)
