package inbound

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// stallingBody delivers its bytes, then fails as a client that announced
// more and hung up.
type stallingBody struct{ r io.Reader }

func (b *stallingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *stallingBody) Close() error { return nil }

// TestReadBodyAllocatesAsBytesArrive checks that readBody does not
// allocate the length a request announces before its bytes arrive: anyone
// may announce the source's limit and stall, before any signature check.
// Not parallel, so other tests' allocations do not count.
func TestReadBodyAllocatesAsBytesArrive(t *testing.T) {
	const announced = 64 << 20
	r := httptest.NewRequest(http.MethodPost, "/in/s", nil)
	r.Body = &stallingBody{strings.NewReader("{")}
	r.ContentLength = announced
	w := httptest.NewRecorder()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readBody(w, r, 2*announced)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error: got %v, want %v", err, io.ErrUnexpectedEOF)
	}
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB for 1 byte received of %d MiB announced", got>>10, announced>>20)
	// 64 KiB up front, and room for other goroutines' allocations.
	if got > 4<<20 {
		t.Errorf("allocated %d KiB for 1 byte received of %d MiB announced, want at most 4 MiB", got>>10, announced>>20)
	}
}

// TestReadBody checks bodies read whole across the growth of the buffer,
// with and without a length, and that one over the limit is refused.
func TestReadBody(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, bodyPresize - 1, bodyPresize, bodyPresize + 1, 5*bodyPresize + 7} {
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, length := range []int64{int64(size), -1} {
			r := httptest.NewRequest(http.MethodPost, "/in/s", bytes.NewReader(want))
			r.ContentLength = length
			got, err := readBody(httptest.NewRecorder(), r, 1<<20)
			if err != nil || !bytes.Equal(got, want) || got == nil {
				t.Errorf("%d bytes, Content-Length %d: got %d bytes, %v; want the body", size, length, len(got), err)
			}
		}
	}
	short := httptest.NewRequest(http.MethodPost, "/in/s", strings.NewReader(strings.Repeat("x", bodyPresize+1)))
	short.ContentLength = 3 * bodyPresize
	if _, err := readBody(httptest.NewRecorder(), short, 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body shorter than its Content-Length: got %v, want %v", err, io.ErrUnexpectedEOF)
	}
	for _, length := range []int64{2 << 20, -1} {
		r := httptest.NewRequest(http.MethodPost, "/in/s", bytes.NewReader(make([]byte, 2<<20)))
		r.ContentLength = length
		var tooBig *http.MaxBytesError
		if _, err := readBody(httptest.NewRecorder(), r, 1<<20); !errors.As(err, &tooBig) || tooBig.Limit != 1<<20 {
			t.Errorf("2 MiB, Content-Length %d, limit 1 MiB: got %v, want a MaxBytesError", length, err)
		}
	}
}
