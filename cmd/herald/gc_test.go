package main

import "testing"

func TestGCPercentDefersToGOGC(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	if got, ok := gcPercent(getenv); !ok || got != defaultGCPercent {
		t.Fatalf("GOGC unset: got %d, %v; want %d, true", got, ok, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", "50"} {
		env["GOGC"] = v
		if got, ok := gcPercent(getenv); ok {
			t.Errorf("GOGC=%q: Herald would override it with %d", v, got)
		}
	}
}
