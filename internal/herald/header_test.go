package herald

import (
	"strings"
	"testing"
)

func TestCheckHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"X-Api-Key", "abc", true},
		{"X-Odd!#$%&'*+.^_`|~", "v", true},
		{"X-Big", strings.Repeat("a", 4096), true},
		{"", "v", false},
		{strings.Repeat("a", 257), "v", false},
		{"Bad Name", "v", false},
		{"X:Colon", "v", false},
		{"X-Big", strings.Repeat("a", 4097), false},
		{"X-Token", "a\rb", false},
		{"Host", "v", false},
		{"expect", "100-continue", false},
		{"Keep-Alive", "5", false},
		{"Webhook-Version", "2", false},
		{"SVIX-Foo", "x", false},
		{"X-Forwarded-For", "1.2.3.4", false},
	} {
		err := CheckHeader(tc.name, tc.value)
		if (err == nil) != tc.ok || err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("CheckHeader(%q, %d bytes): got %v, want ok %v", tc.name, len(tc.value), err, tc.ok)
		}
	}
	if CheckHeaderCount(MaxHeaders) != nil || CheckHeaderCount(MaxHeaders+1) == nil {
		t.Errorf("CheckHeaderCount: want %d allowed and %d refused", MaxHeaders, MaxHeaders+1)
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"invoice.paid": true, "a-b_c.D9": true, strings.Repeat("a", 256): true,
		"": false, strings.Repeat("a", 257): false, "a b": false, "<b>x</b>": false, "ü": false,
	} {
		if got := ValidName(v, 256); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", v, got, want)
		}
	}
}
