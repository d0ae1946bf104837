package herald

import "time"

// DefaultSchedule is the delay before each retry: the first attempt goes out
// at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// Policy decides what happens after an attempt. Its zero value is the
// default policy.
type Policy struct {
	// Schedule is the delay before each retry; nil means DefaultSchedule.
	// An empty non-nil slice means no retries.
	Schedule []time.Duration
	// Jitter spreads each delay by up to ±Jitter of itself; 0 means 0.2.
	// Negative disables jitter.
	Jitter float64
	// MaxRetryAfter bounds how far a Retry-After header can push a retry;
	// 0 means 1 hour.
	MaxRetryAfter time.Duration
	// DisableAfter disables an endpoint that has failed without a single
	// success for this long; 0 means 5 days.
	DisableAfter time.Duration
}

func (p Policy) schedule() []time.Duration {
	if p.Schedule == nil {
		return DefaultSchedule
	}
	return p.Schedule
}

// MaxAttempts is the total number of attempts a delivery gets.
func (p Policy) MaxAttempts() int { return len(p.schedule()) + 1 }

// DisableAfterOrDefault returns DisableAfter with its default applied.
func (p Policy) DisableAfterOrDefault() time.Duration {
	if p.DisableAfter == 0 {
		return 5 * 24 * time.Hour
	}
	return p.DisableAfter
}

// Decide returns the outcome of attempt number attempts (1-based) that got
// r at now. failingSince is when the endpoint began failing without a
// success (zero if it was healthy before this attempt). rnd is a uniform
// number in [0,1) that drives jitter, passed in to keep Decide pure.
func (p Policy) Decide(attempts int, r Response, now, failingSince time.Time, rnd float64) Outcome {
	if r.Succeeded() {
		return Outcome{Status: StatusSuccess}
	}
	out := Outcome{Status: StatusFail}
	switch r.StatusCode {
	case 410:
		out.DisableEndpoint = true
		return out
	case 429, 502, 503, 504:
		out.Throttled = true
	}
	if !failingSince.IsZero() && now.Sub(failingSince) >= p.DisableAfterOrDefault() {
		out.DisableEndpoint = true
	}
	sched := p.schedule()
	if attempts > len(sched) || out.DisableEndpoint {
		return out
	}
	delay := p.jitter(sched[attempts-1], rnd)
	if r.RetryAfter > 0 {
		maxRA := p.MaxRetryAfter
		if maxRA == 0 {
			maxRA = time.Hour
		}
		delay = max(delay, min(r.RetryAfter, maxRA))
	}
	out.Status = StatusSending
	out.NextAttemptAt = now.Add(delay)
	return out
}

func (p Policy) jitter(d time.Duration, rnd float64) time.Duration {
	j := p.Jitter
	if j == 0 {
		j = 0.2
	}
	if j < 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + j*(2*rnd-1)))
}
