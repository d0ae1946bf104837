package ui

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// overviewData is the last 24 hours at a glance.
type overviewData struct {
	Messages    int64
	Deliveries  store.Stats
	Total       int64 // deliveries in the window
	SuccessRate string
	Attempts    int64
	PerMinute   string // average attempts per minute over the last hour
	Backlog     int64
	Chart       chart
	Failing     []store.EndpointHealth
	Disabled    []store.EndpointHealth
}

// overviewWindow and overviewBucket shape the overview: 24 hours in
// 15-minute bars.
const (
	overviewWindow = 24 * time.Hour
	overviewBucket = 15 * time.Minute
)

func (s *Server) overview(w http.ResponseWriter, r *http.Request, c *ctx) error {
	ctx := r.Context()
	now := s.now().UTC()
	until := now.Truncate(overviewBucket).Add(overviewBucket)
	since := until.Add(-overviewWindow)
	var d overviewData
	var err error
	if d.Messages, err = s.store.CountMessages(ctx, since, until); err != nil {
		return err
	}
	if d.Deliveries, err = s.store.DeliveryStats(ctx, since, until); err != nil {
		return err
	}
	st := d.Deliveries
	d.Total = st.Success + st.Pending + st.Fail + st.Sending + st.Canceled
	d.SuccessRate = pct(st.Success, st.Success+st.Fail+st.Canceled)
	buckets, err := s.store.AttemptBuckets(ctx, since, until, overviewBucket)
	if err != nil {
		return err
	}
	// The rate is over the last four bars: the hour up to the end of the
	// current bar, of which only now - hourStart has passed.
	var lastHour int64
	hourStart := until.Add(-time.Hour)
	for _, b := range buckets {
		d.Attempts += b.Success + b.Fail
		if !b.Start.Before(hourStart) {
			lastHour += b.Success + b.Fail
		}
	}
	d.PerMinute = perMinute(lastHour, max(now.Sub(hourStart), time.Minute))
	d.Chart = newChart(buckets, overviewBucket)
	if d.Backlog, err = s.store.Backlog(ctx); err != nil {
		return err
	}
	unhealthy, err := s.store.UnhealthyEndpoints(ctx, 100)
	if err != nil {
		return err
	}
	for _, h := range unhealthy {
		if h.Endpoint.Disabled {
			d.Disabled = append(d.Disabled, h)
		} else {
			d.Failing = append(d.Failing, h)
		}
	}
	v := c.view
	v.Title, v.Nav, v.Data = "Overview", "overview", d
	s.render(w, http.StatusOK, "overview", v)
	return nil
}
