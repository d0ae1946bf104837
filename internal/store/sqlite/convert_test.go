package sqlite

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

func TestJSONColumnsRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // what decoding gives back
	}{
		{"plain", "invoice.paid", "invoice.paid"},
		{"empty", "", ""},
		{"quotes and backslashes", `say "hi" \ bye`, `say "hi" \ bye`},
		{"control characters", "a\nb\rc\td\x00e\x1f", "a\nb\rc\td\x00e\x1f"},
		{"unicode", "héllo, 世界 🎉", "héllo, 世界 🎉"},
		{"html stays as is", "<a href='x'>&</a>", "<a href='x'>&</a>"},
		{"invalid utf-8", "bad\xffbyte", "bad\ufffdbyte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			list, err := parseList(jsonList([]string{tc.in, "second"}))
			if err != nil {
				t.Fatalf("decode list: %v", err)
			}
			if want := []string{tc.want, "second"}; !slices.Equal(list, want) {
				t.Errorf("list: got %q, want %q", list, want)
			}
			m, err := parseMap(jsonMap(map[string]string{tc.in: tc.in, "k": "v"}))
			if err != nil {
				t.Fatalf("decode map: %v", err)
			}
			if want := map[string]string{tc.want: tc.want, "k": "v"}; !maps.Equal(m, want) {
				t.Errorf("map: got %q, want %q", m, want)
			}
		})
	}
}

func TestJSONColumnsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	m := map[string]string{"b": "2", "a": "1\n\"x\"", "Content-Type": "application/json"}
	want, err := json.Marshal(m) // sorted keys, like jsonMap
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonMap(m); got.String != string(want) {
		t.Errorf("got %s, want %s", got.String, want)
	}
	if got := jsonList(nil); got.Valid {
		t.Errorf("empty list: got %q, want NULL", got.String)
	}
	if got := jsonMap(map[string]string{}); got.Valid {
		t.Errorf("empty map: got %q, want NULL", got.String)
	}
}
