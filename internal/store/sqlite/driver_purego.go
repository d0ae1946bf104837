//go:build !cgo

package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"

	"modernc.org/sqlite"
)

// DriverName is the database/sql driver this build registers for SQLite
// files, for tools and tests that open one directly.
const DriverName = "sqlite" // registered by modernc.org/sqlite

type connector struct {
	drv *sqlite.Driver
	dsn string
}

func newConnector(path string, immediate bool, pragmas []string) driver.Connector {
	q := url.Values{}
	for _, p := range pragmas {
		name, value, _ := strings.Cut(p, "=")
		q.Add("_pragma", name+"("+value+")")
	}
	if immediate {
		q.Set("_txlock", "immediate")
	}
	return connector{drv: &sqlite.Driver{}, dsn: path + "?" + q.Encode()}
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

func (c connector) Driver() driver.Driver { return c.drv }

// errCode returns the extended result code of a SQLite error.
func errCode(err error) (int, bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code(), true
	}
	return 0, false
}
