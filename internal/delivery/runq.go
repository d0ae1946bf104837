package delivery

import "sync"

// runQueue is the FIFO of queue tokens the workers take from. A queue
// appears once per worker it may use (up to its in-flight cap), so a
// worker never waits on an endpoint that is already at its cap.
type runQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	items  []*epQueue // ring buffer
	head   int
	n      int
	idle   int // workers waiting in pop
	closed bool
}

func (r *runQueue) init() {
	r.cond.L = &r.mu
	r.items = make([]*epQueue, 64)
}

// push adds a token for q. After close it does nothing.
func (r *runQueue) push(q *epQueue) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if r.n == len(r.items) {
		grown := make([]*epQueue, 2*len(r.items))
		for i := range r.n {
			grown[i] = r.items[(r.head+i)%len(r.items)]
		}
		r.items, r.head = grown, 0
	}
	r.items[(r.head+r.n)%len(r.items)] = q
	r.n++
	wake := r.idle > 0
	r.mu.Unlock()
	if wake {
		r.cond.Signal()
	}
}

// pop waits for a token; it returns nil once the queue is closed.
func (r *runQueue) pop() *epQueue {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n == 0 && !r.closed {
		r.idle++
		r.cond.Wait()
		r.idle--
	}
	if r.closed {
		return nil
	}
	q := r.items[r.head]
	r.items[r.head] = nil
	r.head = (r.head + 1) % len(r.items)
	r.n--
	return q
}

// waiting reports whether tokens are waiting for a worker.
func (r *runQueue) waiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n > 0 && r.idle == 0
}

// close wakes every worker and makes pop return nil.
func (r *runQueue) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cond.Broadcast()
}
