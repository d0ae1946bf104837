package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
)

// HandlerFunc handles one verified, deduplicated event. Returning an error
// means the event was not handled: in synchronous mode the sender is
// answered 500 and retries.
type HandlerFunc func(ctx context.Context, e *Event) error

// ReceiverConfig configures a Receiver. The zero value is a synchronous
// receiver with in-memory deduplication.
type ReceiverConfig struct {
	// MaxBodyBytes caps the request body; a larger one is answered 413.
	// Zero means 1 MiB.
	MaxBodyBytes int64
	// Dedupe remembers webhook-ids. Nil means a MemoryDedupe with its
	// defaults (72 hours, 100,000 ids).
	Dedupe DedupeStore
	// Workers, when positive, turns on asynchronous mode: events are
	// queued, answered 202 at once, and handled by this many goroutines.
	// Zero means synchronous: the handler runs inside the request.
	Workers int
	// QueueSize bounds the asynchronous queue; when it is full the sender
	// is answered 503 and retries later. Zero means 100 per worker.
	QueueSize int
	// Logger receives handler failures in asynchronous mode and dedupe
	// store errors. Nil means they are not logged.
	Logger *slog.Logger
}

// Receiver is an http.Handler that receives Standard Webhooks: it reads
// the raw body (bounded), verifies the signature, drops duplicates by
// webhook-id, and hands each new event to the application.
//
// Responses tell the sender what to do: 204 handled, 202 queued, 200 a
// duplicate already handled; 401 bad signature or stale timestamp, 413 body
// too large, 405 not a POST (none of these is worth retrying as is); 409
// the same event is being handled right now, 500 the handler failed, 503
// the queue is full or the receiver is shut down (retry later).
//
// Synchronous mode (the default) acknowledges only after the handler
// returns: on error the id's dedupe mark is removed and the sender retries,
// so nothing is lost. Keep the handler fast, since senders time out.
//
// Asynchronous mode acknowledges once the event is queued, which is as
// fast as it gets but means the sender no longer retries a failure on its
// own. So when a queued event fails (or is still queued when Shutdown gives
// up) its mark is removed and the failure logged: the next delivery of the
// same webhook-id, whether a sender retry after a lost acknowledgement or
// a replay from the sender's dashboard, is handled instead of being dropped
// as a duplicate. A duplicate arriving while the original is still queued
// or running is answered 409, so the sender comes back later rather than
// having its delivery acknowledged and then lost if the original fails.
// That in-flight check covers this process; the dedupe store covers the
// rest. What asynchronous mode cannot cover is a crash: events still queued
// when the process dies were acknowledged and are never handled (and with
// a persistent DedupeStore their redeliveries are dropped as duplicates).
// Use synchronous mode when every event must be handled.
type Receiver struct {
	verifier *Verifier
	handle   HandlerFunc
	dedupe   DedupeStore
	maxBody  int64
	log      *slog.Logger

	flightMu sync.Mutex
	inflight map[string]struct{} // ids being handled or queued here

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *Event // nil in synchronous mode

	ctx    context.Context // handler context in asynchronous mode
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

// errShutdown is the cause given to handlers cut off by Shutdown.
var errShutdown = errors.New("webhook: receiver shut down")

// NewReceiver returns a Receiver that checks signatures with v and passes
// new events to handle. In asynchronous mode it starts its workers; call
// Shutdown to stop them.
func NewReceiver(v *Verifier, handle HandlerFunc, cfg ReceiverConfig) *Receiver {
	r := &Receiver{
		verifier: v,
		handle:   handle,
		dedupe:   cfg.Dedupe,
		maxBody:  cfg.MaxBodyBytes,
		log:      cfg.Logger,
		inflight: make(map[string]struct{}),
	}
	if r.dedupe == nil {
		r.dedupe = NewMemoryDedupe(MemoryDedupeConfig{})
	}
	if r.maxBody <= 0 {
		r.maxBody = 1 << 20
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	if cfg.Workers > 0 {
		size := cfg.QueueSize
		if size <= 0 {
			size = 100 * cfg.Workers
		}
		r.queue = make(chan *Event, size)
		r.wg.Add(cfg.Workers)
		for range cfg.Workers {
			go r.work()
		}
	}
	return r
}

// ServeHTTP receives one webhook delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		respond(w, http.StatusMethodNotAllowed, "webhooks are received with POST")
		return
	}
	if r.isClosed() {
		respond(w, http.StatusServiceUnavailable, "receiver is shutting down; retry later")
		return
	}
	body, status, err := r.readBody(w, req)
	if err != nil {
		respond(w, status, err.Error())
		return
	}
	id := headerValue(req.Header, HeaderID, HeaderSvixID)
	ts := headerValue(req.Header, HeaderTimestamp, HeaderSvixTimestamp)
	sig := headerValue(req.Header, HeaderSignature, HeaderSvixSignature)
	if err := r.verifier.VerifyParts(id, ts, sig, body); err != nil {
		respond(w, http.StatusUnauthorized, err.Error())
		return
	}
	unix, _ := parseTimestamp(ts) // verified above
	if !r.begin(id) {
		w.Header().Set("Retry-After", "10")
		respond(w, http.StatusConflict, "this event is being handled; retry later")
		return
	}
	seen, err := r.dedupe.Seen(req.Context(), id)
	if err != nil {
		r.finish(id)
		r.log.Error("webhook dedupe store failed", "webhook_id", id, "err", err)
		respond(w, http.StatusServiceUnavailable, "dedupe store unavailable; retry later")
		return
	}
	if seen {
		r.finish(id)
		respond(w, http.StatusOK, "duplicate")
		return
	}
	e := newEvent(id, unix, body, req.Header)
	if r.queue == nil {
		r.serveSync(w, req, e)
		return
	}
	r.enqueue(w, req, e)
}

// Shutdown stops the receiver: new deliveries are answered 503, and in
// asynchronous mode it waits for the queued events to be handled. When ctx
// ends first, running handlers see their context cancelled, events still
// queued are not handled (their dedupe marks are removed so a redelivery
// is handled), and Shutdown returns ctx's error once the workers are done.
// It is safe to call more than once.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		if r.queue != nil {
			close(r.queue)
		}
	}
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.cancel(errShutdown)
		return nil
	case <-ctx.Done():
		r.cancel(errShutdown)
		<-done
		return fmt.Errorf("webhook receiver shutdown: %w", ctx.Err())
	}
}

func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, int, error) {
	tooLarge := fmt.Errorf("body larger than %d bytes", r.maxBody)
	if req.ContentLength > r.maxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	return body, 0, nil
}

func (r *Receiver) serveSync(w http.ResponseWriter, req *http.Request, e *Event) {
	if r.isClosed() {
		r.release(req.Context(), e.ID)
		respond(w, http.StatusServiceUnavailable, "receiver is shutting down; retry later")
		return
	}
	if err := r.call(req.Context(), e); err != nil {
		r.release(req.Context(), e.ID)
		r.log.Warn("webhook handler failed", "webhook_id", e.ID, "err", err)
		respond(w, http.StatusInternalServerError, "event handling failed; retry later")
		return
	}
	r.finish(e.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (r *Receiver) enqueue(w http.ResponseWriter, req *http.Request, e *Event) {
	r.mu.RLock()
	queued := false
	if !r.closed {
		select {
		case r.queue <- e:
			queued = true
		default:
		}
	}
	closed := r.closed
	r.mu.RUnlock()
	if queued {
		respond(w, http.StatusAccepted, "accepted")
		return
	}
	r.release(req.Context(), e.ID)
	if closed {
		respond(w, http.StatusServiceUnavailable, "receiver is shutting down; retry later")
		return
	}
	respond(w, http.StatusServiceUnavailable, "queue full; retry later")
}

// work handles queued events until the queue is closed and drained.
func (r *Receiver) work() {
	defer r.wg.Done()
	for e := range r.queue {
		if r.ctx.Err() != nil {
			r.release(r.ctx, e.ID)
			r.log.Warn("webhook event not handled before shutdown", "webhook_id", e.ID)
			continue
		}
		if err := r.call(r.ctx, e); err != nil {
			r.release(r.ctx, e.ID)
			r.log.Error("webhook handler failed", "webhook_id", e.ID, "err", err)
			continue
		}
		r.finish(e.ID)
	}
}

// call runs the handler, turning a panic into an error so the dedupe mark
// is released rather than left on an event that was never handled.
func (r *Receiver) call(ctx context.Context, e *Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return r.handle(ctx, e)
}

func (r *Receiver) isClosed() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed
}

// begin claims id for this process; false means it is already in flight.
func (r *Receiver) begin(id string) bool {
	r.flightMu.Lock()
	defer r.flightMu.Unlock()
	if _, ok := r.inflight[id]; ok {
		return false
	}
	r.inflight[id] = struct{}{}
	return true
}

// finish ends the in-flight claim on id.
func (r *Receiver) finish(id string) {
	r.flightMu.Lock()
	delete(r.inflight, id)
	r.flightMu.Unlock()
}

// release removes the dedupe mark on an event that was not handled, so its
// next delivery is, then ends the in-flight claim. The mark is removed
// first: a redelivery must not find the claim gone but the mark still set.
func (r *Receiver) release(ctx context.Context, id string) {
	if err := r.dedupe.Forget(context.WithoutCancel(ctx), id); err != nil {
		r.log.Error("webhook dedupe store failed to forget", "webhook_id", id, "err", err)
	}
	r.finish(id)
}

func respond(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}
