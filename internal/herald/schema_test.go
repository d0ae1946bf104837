package herald

import (
	"math/rand/v2"
	"testing"
)

// TestNewestSchemaVersion: the newest version is the same whatever order
// the versions come in (map order, in the callers), mixes included.
func TestNewestSchemaVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		versions []string
		want     string
	}{
		{nil, ""},
		{[]string{"1"}, "1"},
		{[]string{"1", "2", "10"}, "10"},
		{[]string{"10", "9", "1a"}, "10"},
		{[]string{"beta", "alpha"}, "beta"},
		{[]string{"v2", "v10", "3"}, "3"},
		{[]string{"01", "1", "0"}, "1"},
	} {
		for range 20 {
			vs := append([]string(nil), tc.versions...)
			rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
			if got := NewestSchemaVersion(vs); got != tc.want {
				t.Fatalf("NewestSchemaVersion(%q) = %q, want %q", vs, got, tc.want)
			}
		}
	}
}
