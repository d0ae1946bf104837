package ui

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// chart is the deliveries-per-minute chart of the overview, drawn on the
// server as inline SVG: one stacked bar (succeeded, failed) per bucket.
type chart struct {
	SVG template.HTML
}

const (
	chartW, chartH = 960.0, 200.0
	chartPad       = 28.0 // room for the time labels
)

// perMinute formats n events over d as a rate per minute.
func perMinute(n int64, d time.Duration) string {
	r := float64(n) / d.Minutes()
	if r >= 10 || r == 0 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// newChart draws buckets of width as rates per minute.
func newChart(buckets []store.Bucket, width time.Duration) chart {
	mins := width.Minutes()
	peak := 0.0
	for _, b := range buckets {
		peak = math.Max(peak, float64(b.Success+b.Fail)/mins)
	}
	top := niceCeil(peak)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="Deliveries per minute over the last 24 hours">`, chartW, chartH+chartPad)
	for i := 0; i <= 4; i++ {
		y := chartH - chartH*float64(i)/4
		fmt.Fprintf(&sb, `<line class="grid" x1="0" x2="%.0f" y1="%.1f" y2="%.1f"/>`, chartW, y, y)
		if i == 2 || i == 4 {
			fmt.Fprintf(&sb, `<text class="y" x="%.0f" y="%.1f">%s/min</text>`, chartW-2, y+13, axisLabel(top*float64(i)/4))
		}
	}
	n := len(buckets)
	if n > 0 {
		bw := chartW / float64(n)
		for i, b := range buckets {
			x := float64(i) * bw
			ok := float64(b.Success) / mins / top * chartH
			bad := float64(b.Fail) / mins / top * chartH
			tip := fmt.Sprintf("%s: %s/min delivered, %s/min failed", b.Start.Format("15:04"),
				perMinute(b.Success, width), perMinute(b.Fail, width))
			fmt.Fprintf(&sb, `<g><title>%s</title>`, template.HTMLEscapeString(tip))
			fmt.Fprintf(&sb, `<rect class="hit" x="%.2f" y="0" width="%.2f" height="%.0f"/>`, x, bw, chartH)
			if ok > 0 {
				fmt.Fprintf(&sb, `<rect class="ok" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`, x+bw*0.1, chartH-ok, bw*0.8, ok)
			}
			if bad > 0 {
				fmt.Fprintf(&sb, `<rect class="bad" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`, x+bw*0.1, chartH-ok-bad, bw*0.8, bad)
			}
			sb.WriteString(`</g>`)
			if b.Start.Minute() == 0 && b.Start.Hour()%4 == 0 {
				fmt.Fprintf(&sb, `<text x="%.2f" y="%.0f">%s</text>`, x, chartH+18, b.Start.Format("15:04"))
			}
		}
	}
	sb.WriteString(`</svg>`)
	return chart{SVG: template.HTML(sb.String())}
}

// niceCeil rounds a chart's peak up to 1, 2 or 5 times a power of ten, and
// to at least 1.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// axisLabel formats a rate for the chart's axis.
func axisLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
