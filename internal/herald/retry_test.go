package herald

import (
	"testing"
	"time"
)

func TestPolicyDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	healthy := time.Time{}
	tests := []struct {
		name         string
		policy       Policy
		attempts     int
		resp         Response
		failingSince time.Time
		rnd          float64
		want         Outcome
	}{
		{"2xx succeeds", Policy{}, 1, Response{StatusCode: 204}, healthy, 0.5,
			Outcome{Status: StatusSuccess}},
		{"first failure retries after 5s", Policy{}, 1, Response{StatusCode: 500}, healthy, 0.5,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Second)}},
		{"second failure retries after 5m", Policy{}, 2, Response{StatusCode: 500}, healthy, 0.5,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Minute)}},
		{"last retry of eight attempts waits 10h", Policy{}, 7, Response{}, healthy, 0.5,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(10 * time.Hour)}},
		{"eighth failure is final", Policy{}, 8, Response{StatusCode: 500}, healthy, 0.5,
			Outcome{Status: StatusFail}},
		{"jitter low end is -20%", Policy{}, 1, Response{StatusCode: 500}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(4 * time.Second)}},
		{"jitter high end is +20%", Policy{}, 1, Response{StatusCode: 500}, healthy, 1,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(6 * time.Second)}},
		{"jitter can be turned off", Policy{Jitter: -1}, 1, Response{StatusCode: 500}, healthy, 1,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Second)}},
		{"custom schedule", Policy{Schedule: []time.Duration{time.Millisecond}, Jitter: -1}, 1, Response{}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(time.Millisecond)}},
		{"empty schedule never retries", Policy{Schedule: []time.Duration{}}, 1, Response{StatusCode: 500}, healthy, 0,
			Outcome{Status: StatusFail}},
		{"3xx is a failure", Policy{Jitter: -1}, 1, Response{StatusCode: 301}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Second)}},
		{"410 disables at once", Policy{}, 1, Response{StatusCode: 410}, healthy, 0,
			Outcome{Status: StatusFail, DisableEndpoint: true}},
		{"429 throttles", Policy{Jitter: -1}, 1, Response{StatusCode: 429}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Second), Throttled: true}},
		{"503 throttles", Policy{Jitter: -1}, 1, Response{StatusCode: 503}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Second), Throttled: true}},
		{"Retry-After longer than the schedule wins", Policy{Jitter: -1}, 1, Response{StatusCode: 503, RetryAfter: time.Minute}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(time.Minute), Throttled: true}},
		{"Retry-After shorter than the schedule does not hasten", Policy{Jitter: -1}, 2, Response{StatusCode: 429, RetryAfter: time.Second}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(5 * time.Minute), Throttled: true}},
		{"Retry-After is bounded", Policy{Jitter: -1}, 1, Response{StatusCode: 429, RetryAfter: 48 * time.Hour}, healthy, 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(time.Hour), Throttled: true}},
		{"failing for 5 days disables", Policy{}, 3, Response{StatusCode: 500}, now.Add(-5 * 24 * time.Hour), 0,
			Outcome{Status: StatusFail, DisableEndpoint: true}},
		{"failing for less keeps retrying", Policy{Jitter: -1}, 3, Response{StatusCode: 500}, now.Add(-4 * 24 * time.Hour), 0,
			Outcome{Status: StatusSending, NextAttemptAt: now.Add(30 * time.Minute)}},
		{"a success after long failure is still a success", Policy{}, 3, Response{StatusCode: 200}, now.Add(-9 * 24 * time.Hour), 0,
			Outcome{Status: StatusSuccess}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.policy.Decide(tt.attempts, tt.resp, now, tt.failingSince, tt.rnd)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPolicyMaxAttempts(t *testing.T) {
	t.Parallel()
	if got := (Policy{}).MaxAttempts(); got != 8 {
		t.Errorf("default: got %d attempts, want 8 (immediately plus seven retries)", got)
	}
}
