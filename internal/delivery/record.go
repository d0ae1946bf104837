package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// recorder writes attempt results to the store in batches. Workers hand
// results over and go on sending; a few recorder goroutines each take
// whatever has gathered and write it with one Record call, which the store
// group-commits with the others.
type recorder struct {
	e        *Engine
	ch       chan store.Result
	quit     chan struct{} // closed by abandon: give up instead of retrying
	quitOnce sync.Once
	dropped  atomic.Int64 // results add gave up on
	wg       sync.WaitGroup
	maxBatch int
	loops    int
}

func newRecorder(e *Engine) *recorder {
	return &recorder{
		e:        e,
		ch:       make(chan store.Result, 2*e.cfg.Workers),
		quit:     make(chan struct{}),
		maxBatch: 512,
		loops:    2,
	}
}

func (r *recorder) start() {
	for range r.loops {
		r.wg.Add(1)
		go r.loop()
	}
}

// add queues one result; it blocks while the store falls behind, which
// slows the workers down instead of piling results up in memory. Once the
// recorder is abandoned it drops what does not fit: the delivery stays
// leased, and is sent again when its lease expires.
func (r *recorder) add(res store.Result) {
	select {
	case r.ch <- res:
		return
	default:
	}
	select {
	case r.ch <- res:
	case <-r.quit:
		r.dropped.Add(1)
	}
}

// abandon makes the recorder give up on a store that keeps failing: each
// batch is tried once more, and add stops waiting. Stop calls it when its
// deadline has passed, so an outage cannot hold the shutdown.
func (r *recorder) abandon() { r.quitOnce.Do(func() { close(r.quit) }) }

// stop writes what is queued, retrying a failing store until ctx ends,
// and waits. Nothing may call add afterwards. It reports the results it
// gave up on.
func (r *recorder) stop(ctx context.Context) error {
	close(r.ch)
	written := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			r.abandon()
		case <-written:
		}
	}()
	r.wg.Wait()
	close(written)
	if n := r.dropped.Load(); n > 0 {
		r.e.log.Error("attempt results not recorded at stop; they will be sent again", slog.Int64("results", n))
		return fmt.Errorf("stop: %d %w; they will be sent again", n, ErrNotRecorded)
	}
	return nil
}

func (r *recorder) loop() {
	defer r.wg.Done()
	batch := make([]store.Result, 0, r.maxBatch)
	for {
		res, ok := <-r.ch
		if !ok {
			return
		}
		batch = append(batch[:0], res)
	fill:
		for len(batch) < r.maxBatch {
			select {
			case res, ok := <-r.ch:
				if !ok {
					break fill
				}
				batch = append(batch, res)
			default:
				break fill
			}
		}
		r.write(batch)
		clear(batch)
	}
}

// write records batch, retrying while the store is unavailable. Once the
// recorder is abandoned (Stop's context ended) it tries once more and then
// gives up: the deliveries stay leased until their lease expires, and are
// sent again then.
func (r *recorder) write(batch []store.Result) {
	e := r.e
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		disabled, err := e.store.Record(ctx, batch)
		cancel()
		if err == nil {
			r.applied(batch, disabled)
			return
		}
		stopping := false
		select {
		case <-r.quit:
			stopping = true
		default:
		}
		if stopping {
			r.dropped.Add(int64(len(batch)))
			e.log.Error("record attempt results at stop; they will be sent again",
				slog.Int("results", len(batch)), slog.Any("error", err))
			return
		}
		if e.errLimit.allow("record", e.now()) {
			e.log.Error("record attempt results; retrying",
				slog.Int("results", len(batch)), slog.Any("error", err))
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.quit:
			t.Stop()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// applied reacts to a committed batch: endpoints the store disabled stop
// receiving, scheduled retries wake the poller when due, and Config.Events
// hears of it.
func (r *recorder) applied(batch []store.Result, disabled []string) {
	e := r.e
	e.disp.inflight.done(batch)
	for _, id := range disabled {
		appID := ""
		for i := range batch {
			if batch[i].Attempt.EndpointID == id {
				appID = batch[i].Attempt.AppID
				break
			}
		}
		e.log.Warn("endpoint disabled", slog.String("app_id", appID), slog.String("endpoint_id", id))
		if q := e.disp.lookup(id); q != nil {
			q.setEndpoint(nil, e.nodeShare(), e.now())
		}
		if appID != "" {
			e.endpts.invalidate(appID)
		}
	}
	for i := range batch {
		if o := batch[i].Outcome; o.Status == herald.StatusSending {
			e.poll.hint(o.NextAttemptAt)
		}
	}
	e.notifyRecorded(batch, disabled)
	e.wakeForOrdered(batch)
}
