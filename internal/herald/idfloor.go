package herald

import (
	"encoding/binary"
	"time"
)

// IDFloor returns the smallest ID with prefix that NewID can return at t or
// later. NewID never goes back in time, so every row created at t or later
// has an ID >= IDFloor(prefix, t): time-window queries can bound the
// primary key with it instead of scanning for a created_at.
func IDFloor(prefix string, t time.Time) string {
	var raw [20]byte
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	binary.BigEndian.PutUint64(raw[0:8], uint64(ms)<<16)
	return prefix + encodeBase62(raw)
}
