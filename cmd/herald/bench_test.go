package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// herald bench measures real runs; these check that every figure it
// reports comes from deliveries that happened.

// deploymentEnv is the environment of a machine where Herald is deployed
// through HERALD_* variables: a benchmark run there must use none of them
// (its own SQLite, not the deployment's database; no operational webhook).
func deploymentEnv() []string {
	return append(os.Environ(),
		"HERALD_DATABASE=postgres://herald@127.0.0.1:1/deployment?connect_timeout=1",
		"HERALD_OPERATIONAL_WEBHOOK_URL=http://127.0.0.1:1/ops")
}

func TestBenchReportsTheRatioToTheBaseline(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), heraldBinary(t), "bench", "--duration", "1s", "--concurrency", "8", "--rounds", "2")
	cmd.Env = deploymentEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("herald bench: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`disk: a 64 KiB append and fsync in \S+ takes \d[\d.]*[µm]?s at the median\n`).Match(out) {
		t.Errorf("no disk line in the output:\n%s", out)
	}
	for _, want := range []string{`baseline \(no storage\)\s+\d+`, `herald \(SQLite\)\s+\d+.*\s\d\.\d\d\n`} {
		if n := len(regexp.MustCompile(want).FindAll(out, -1)); n != 2 {
			t.Errorf("output matches %q %d times, want once per round (2):\n%s", want, n, out)
		}
	}
	// The median of two ratios is their mean, between the lowest and the highest.
	m := regexp.MustCompile(`median ratio over 2 rounds: (\d\.\d\d) \(lowest (\d\.\d\d), highest (\d\.\d\d)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no median ratio in the output:\n%s", out)
	}
	if med, lo, hi := string(m[1]), string(m[2]), string(m[3]); med < lo || med > hi || lo == "0.00" {
		t.Errorf("median %s outside [%s, %s] or a zero ratio:\n%s", med, lo, hi, out)
	}
	if regexp.MustCompile(`acknowledged deliveries missing`).Match(out) {
		t.Errorf("deliveries went missing:\n%s", out)
	}
}

// With fan-out the baseline delivers each message to every endpoint too,
// so both rows count the same HTTP work: a copy missing on either side
// would be reported.
func TestBenchBaselineFansOutLikeHerald(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), heraldBinary(t), "bench", "--duration", "1s", "--concurrency", "8", "--endpoints", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("herald bench --endpoints 3: %v\n%s", err, out)
	}
	row := regexp.MustCompile(`(?m)^(baseline \(no storage\)|herald \(SQLite\))\s+(\d+)\s+\S+\s+\S+\s+(\d+)`)
	rows := row.FindAllSubmatch(out, -1)
	if len(rows) != 2 {
		t.Fatalf("want a baseline row and a Herald row:\n%s", out)
	}
	for _, r := range rows {
		// Deliveries per second count every endpoint's copy; over the
		// whole run, drain included, they exceed the publishes per second.
		if pub, del := atoi(t, r[2]), atoi(t, r[3]); pub == 0 || del <= pub {
			t.Errorf("%s: %d published/s but %d delivered/s, want more deliveries than publishes with 3 endpoints", r[1], pub, del)
		}
	}
	if regexp.MustCompile(`acknowledged deliveries missing`).Match(out) {
		t.Errorf("deliveries went missing:\n%s", out)
	}
}

func atoi(t *testing.T, b []byte) int {
	t.Helper()
	n, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBenchBacklogDrainsEverythingItHeld(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), heraldBinary(t), "bench", "--backlog", "300", "--duration", "1s", "--concurrency", "8")
	cmd.Env = deploymentEnv()
	out, err := cmd.CombinedOutput()
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
