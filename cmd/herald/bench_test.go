package main

import (
	"os/exec"
	"regexp"
	"testing"
)

// herald bench measures real runs; these check that every figure it
// reports comes from deliveries that happened.

func TestBenchReportsTheRatioToTheBaseline(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), heraldBinary(t), "bench", "--duration", "1s", "--concurrency", "8").CombinedOutput()
	if err != nil {
		t.Fatalf("herald bench: %v\n%s", err, out)
	}
	for _, want := range []string{`baseline \(no storage\)\s+\d+`, `herald \(SQLite\)\s+\d+.*\s\d\.\d\d\n`} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output does not match %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`acknowledged deliveries missing`).Match(out) {
		t.Errorf("deliveries went missing:\n%s", out)
	}
}

func TestBenchBacklogDrainsEverythingItHeld(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), heraldBinary(t), "bench", "--backlog", "300", "--duration", "1s", "--concurrency", "8").CombinedOutput()
	if err != nil {
		t.Fatalf("herald bench --backlog: %v\n%s", err, out)
	}
	for _, want := range []string{
		`fill:\s+300 acknowledged`,
		`hold:\s+300 deliveries held, RSS [1-9]\d* MB .*, 0 delivered`,
		`drain:.* 300 of 300 delivered`,
		`fresh:\s+(\d+) published and (\d+) delivered`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output does not match %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`fresh:\s+(\d+) published and (\d+) delivered`).FindSubmatch(out); m != nil && string(m[1]) != string(m[2]) {
		t.Errorf("fresh traffic: %s published but %s delivered", m[1], m[2])
	}
}
