package storetest

import (
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

var nodeTests = []test{
	{"heartbeats list the live nodes, sorted", func(f *fixture) {
		n := f.nodes()
		if got := f.beat(n, "node-b", 0); !slices.Equal(got, []string{"node-b"}) {
			f.Errorf("first node: got %v, want [node-b]", got)
		}
		if got := f.beat(n, "node-a", time.Second); !slices.Equal(got, []string{"node-a", "node-b"}) {
			f.Errorf("second node: got %v, want [node-a node-b]", got)
		}
	}},
	{"a node not seen within the ttl is forgotten", func(f *fixture) {
		n := f.nodes()
		f.beat(n, "node-a", 0)
		f.beat(n, "node-b", 0)
		f.beat(n, "node-b", 40*time.Second)
		if got := f.beat(n, "node-b", 61*time.Second); !slices.Equal(got, []string{"node-b"}) {
			f.Errorf("after node-a went quiet: got %v, want [node-b]", got)
		}
	}},
	{"a node that shuts down is forgotten at once", func(f *fixture) {
		n := f.nodes()
		f.beat(n, "node-a", 0)
		if err := n.ForgetNode(f.ctx, "node-a"); err != nil {
			f.Fatal(err)
		}
		if got := f.beat(n, "node-b", time.Second); !slices.Equal(got, []string{"node-b"}) {
			f.Errorf("after node-a left: got %v, want [node-b]", got)
		}
	}},
}

func (f *fixture) nodes() store.Nodes {
	f.Helper()
	n, ok := f.s.(store.Nodes)
	if !ok {
		f.Fatalf("%T does not implement store.Nodes", f.s)
	}
	return n
}

// beat sends a heartbeat of id at t0+d with a one-minute ttl.
func (f *fixture) beat(n store.Nodes, id string, d time.Duration) []string {
	f.Helper()
	live, err := n.HeartbeatNode(f.ctx, id, f.at(d), time.Minute)
	if err != nil {
		f.Fatalf("heartbeat %s: %v", id, err)
	}
	return live
}
