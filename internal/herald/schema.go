package herald

import (
	"slices"
	"strconv"
)

// NewestSchemaVersion returns the newest of an event type's schema
// versions (the keys of its schemas), whose examples describe today's
// payload: the largest number, or, when no version is a number, the last
// name in order. "" when there are none.
func NewestSchemaVersion(versions []string) string {
	if len(versions) == 0 {
		return ""
	}
	return slices.MaxFunc(versions, compareSchemaVersions)
}

// compareSchemaVersions orders versions oldest first: names before
// numbers, names by bytes, numbers by value (and equal values by name, so
// "1" and "01" still compare). It is a total order, whatever the mix.
func compareSchemaVersions(a, b string) int {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA != nil && errB != nil:
		return cmpString(a, b)
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	case na != nb:
		if na < nb {
			return -1
		}
		return 1
	}
	return cmpString(a, b)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
