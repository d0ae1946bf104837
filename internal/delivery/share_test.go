package delivery

import (
	"testing"

	"golang.org/x/time/rate"
)

func TestShareSplitsLimitsBetweenNodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit, nodes int
		want         []int // each node's concurrency, by index
	}{
		{16, 1, []int{16}},
		{16, 2, []int{8, 8}},
		{16, 3, []int{6, 5, 5}},
		{3, 2, []int{2, 1}},
		{2, 3, []int{1, 1, 1}}, // more nodes than the limit: each keeps one
	}
	for _, tt := range tests {
		sum := 0
		for i, want := range tt.want {
			got := share{index: i, count: tt.nodes}.concurrency(tt.limit)
			if got != want {
				t.Errorf("limit %d, node %d of %d: got %d, want %d", tt.limit, i, tt.nodes, got, want)
			}
			sum += got
		}
		if tt.nodes <= tt.limit && sum != tt.limit {
			t.Errorf("limit %d over %d nodes adds up to %d", tt.limit, tt.nodes, sum)
		}
	}
	if got := (share{index: 1, count: 4}).rate(10); got != rate.Limit(2.5) {
		t.Errorf("rate 10/s over 4 nodes: got %v, want 2.5", got)
	}
}
