//go:build cgo

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// DriverName is the database/sql driver this build registers for SQLite
// files, for tools and tests that open one directly.
const DriverName = "sqlite"

func init() { sql.Register(DriverName, &sqlite3.SQLiteDriver{}) }

type connector struct {
	drv     *sqlite3.SQLiteDriver
	dsn     string
	pragmas []string
}

func newConnector(path string, immediate bool, pragmas []string) driver.Connector {
	// database/sql never shares a connection between goroutines, so
	// SQLite's own per-connection mutex is not needed.
	q := url.Values{"_mutex": {"no"}}
	if immediate {
		q.Set("_txlock", "immediate")
	}
	return connector{drv: &sqlite3.SQLiteDriver{}, dsn: path + "?" + q.Encode(), pragmas: pragmas}
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	for _, p := range c.pragmas {
		if _, err := conn.(*sqlite3.SQLiteConn).Exec("PRAGMA "+p, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("pragma %s: %w", p, err)
		}
	}
	return conn, nil
}

func (c connector) Driver() driver.Driver { return c.drv }

// errCode returns the extended result code of a SQLite error.
func errCode(err error) (int, bool) {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return int(se.ExtendedCode), true
	}
	return 0, false
}
