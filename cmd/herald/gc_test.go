package main

import "testing"

func TestGCPercentDefersToGOGC(t *testing.T) {
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	if got, ok := gcPercent(lookup); !ok || got != defaultGCPercent {
		t.Fatalf("GOGC unset: got %d, %v; want %d, true", got, ok, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", ""} {
		env["GOGC"] = v
		if got, ok := gcPercent(lookup); ok {
			t.Errorf("GOGC=%q: Herald would override it with %d", v, got)
		}
	}
}
