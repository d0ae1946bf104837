package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var authTests = []test{
	{"Tokens", func(f *fixture) {
		a := f.app()
		admin := &store.Token{Hash: bytes.Repeat([]byte{1}, 32), Kind: "admin", CreatedAt: f.t0}
		app := &store.Token{Hash: bytes.Repeat([]byte{2}, 32), AppID: a.ID, Kind: "portal", CreatedAt: f.t0, ExpiresAt: f.at(time.Hour)}
		f.noErr("create admin token", f.s.CreateToken(f.ctx, admin))
		f.noErr("create app token", f.s.CreateToken(f.ctx, app))
		f.wantErr("create same hash", f.s.CreateToken(f.ctx, admin), herald.ErrConflict)
		for _, want := range []*store.Token{admin, app} {
			got, err := f.s.GetToken(f.ctx, want.Hash)
			f.noErr("get token", err)
			if !bytes.Equal(got.Hash, want.Hash) || got.AppID != want.AppID || got.Kind != want.Kind ||
				!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
				f.Errorf("token: got %+v, want %+v", got, want)
			}
		}
		f.noErr("delete token", f.s.DeleteToken(f.ctx, app.Hash))
		_, err := f.s.GetToken(f.ctx, app.Hash)
		f.wantErr("get deleted token", err, herald.ErrNotFound)
		f.wantErr("delete missing token", f.s.DeleteToken(f.ctx, app.Hash), herald.ErrNotFound)
	}},
	{"Idempotency", func(f *fixture) {
		exp := f.at(time.Hour)
		saved, _, err := f.s.BeginIdempotent(f.ctx, "key-1", f.t0, exp, "")
		if err != nil || saved != nil {
			f.Fatalf("first begin: got %v, %v, want nil, nil (proceed)", saved, err)
		}
		_, _, err = f.s.BeginIdempotent(f.ctx, "key-1", f.at(time.Second), exp, "")
		f.wantErr("begin while in flight", err, herald.ErrConflict)
		resp := &store.IdempotentResponse{StatusCode: 202, Body: []byte(`{"id":"msg_1"}`)}
		f.noErr("finish", f.s.FinishIdempotent(f.ctx, "key-1", resp))
		saved, _, err = f.s.BeginIdempotent(f.ctx, "key-1", f.at(time.Minute), exp, "")
		f.noErr("begin after finish", err)
		if saved == nil || saved.StatusCode != 202 || string(saved.Body) != string(resp.Body) {
			f.Errorf("saved response: got %+v, want %+v", saved, resp)
		}
		saved, _, err = f.s.BeginIdempotent(f.ctx, "key-1", exp, f.at(2*time.Hour), "")
		if err != nil || saved != nil {
			f.Errorf("begin after expiry: got %v, %v, want nil, nil (the key is claimed afresh)", saved, err)
		}

		saved, _, err = f.s.BeginIdempotent(f.ctx, "key-2", f.t0, exp, "")
		if err != nil || saved != nil {
			f.Fatalf("begin key-2: got %v, %v, want nil, nil", saved, err)
		}
		f.noErr("forget key-2", f.s.FinishIdempotent(f.ctx, "key-2", nil))
		saved, _, err = f.s.BeginIdempotent(f.ctx, "key-2", f.at(time.Second), exp, "")
		if err != nil || saved != nil {
			f.Errorf("begin after a failed request: got %v, %v, want nil, nil (retry allowed)", saved, err)
		}

		// A request that never finished holds its key only until its claim
		// times out: its process died, and the next request takes over.
		timeout := f.at(time.Second).Add(store.IdempotencyClaimTimeout)
		_, _, err = f.s.BeginIdempotent(f.ctx, "key-2", timeout.Add(-time.Millisecond), exp, "")
		f.wantErr("begin just before the claim times out", err, herald.ErrConflict)
		saved, _, err = f.s.BeginIdempotent(f.ctx, "key-2", timeout, exp, "")
		if err != nil || saved != nil {
			f.Errorf("begin after an abandoned claim timed out: got %v, %v, want nil, nil", saved, err)
		}
	}},
	{"IdempotencyNoteOutlivesItsRequest", func(f *fixture) {
		// A claim keeps its request's note (a publish's message ID): the
		// request may have committed its work and died before saving its
		// response, so whoever takes the claim over gets that note, to
		// look for the work, then its own, which the next one to take it
		// over must look for as well. A key claimed afresh (expired, or
		// never claimed) gets the caller's note alone.
		exp := f.at(24 * time.Hour)
		_, claimed, err := f.s.BeginIdempotent(f.ctx, "noted", f.t0, exp, "msg_first")
		if err != nil || claimed != "msg_first" {
			f.Fatalf("first claim: got %q, %v, want msg_first", claimed, err)
		}
		stale := f.at(store.IdempotencyClaimTimeout)
		_, claimed, err = f.s.BeginIdempotent(f.ctx, "noted", stale, exp, "msg_second")
		if err != nil || claimed != "msg_first msg_second" {
			f.Errorf("take over an abandoned claim: got %q, %v, want the first request's msg_first, then msg_second", claimed, err)
		}
		_, claimed, err = f.s.BeginIdempotent(f.ctx, "noted", stale.Add(store.IdempotencyClaimTimeout), exp, "msg_third")
		if err != nil || claimed != "msg_first msg_second msg_third" {
			f.Errorf("take over again: got %q, %v, want every note, oldest first", claimed, err)
		}
		f.noErr("finish", f.s.FinishIdempotent(f.ctx, "noted", &store.IdempotentResponse{StatusCode: 202, Body: []byte(`{}`)}))
		_, claimed, err = f.s.BeginIdempotent(f.ctx, "noted", exp, f.at(48*time.Hour), "msg_fourth")
		if err != nil || claimed != "msg_fourth" {
			f.Errorf("claim after expiry: got %q, %v, want msg_fourth", claimed, err)
		}
		_, claimed, err = f.s.BeginIdempotent(f.ctx, "plain", f.t0, exp, "")
		if err != nil || claimed != "" {
			f.Errorf("claim without a note: got %q, %v, want none", claimed, err)
		}
	}},
	{"IdempotencyAbandonedClaim", func(f *fixture) {
		// The claim is taken over, not the key's whole lifetime renewed:
		// the one who took it over holds it for a full claim timeout.
		exp := f.at(24 * time.Hour)
		_, _, err := f.s.BeginIdempotent(f.ctx, "key", f.t0, exp, "")
		f.noErr("first claim", err)
		stale := f.at(store.IdempotencyClaimTimeout)
		results := make(chan error, 8)
		for range cap(results) {
			go func() {
				saved, _, err := f.s.BeginIdempotent(f.ctx, "key", stale, exp, "")
				if err == nil && saved != nil {
					err = fmt.Errorf("got a saved response %+v", saved)
				}
				results <- err
			}()
		}
		won := 0
		for range cap(results) {
			switch err := <-results; {
			case err == nil:
				won++
			case !errors.Is(err, herald.ErrConflict):
				f.Errorf("take over concurrently: got %v, want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			f.Errorf("got %d requests taking over the abandoned claim, want exactly 1", won)
		}
		_, _, err = f.s.BeginIdempotent(f.ctx, "key", stale.Add(store.IdempotencyClaimTimeout-time.Millisecond), exp, "")
		f.wantErr("begin while the new claim is fresh", err, herald.ErrConflict)

		// A finished request's response is kept until the key expires,
		// however old it is.
		resp := &store.IdempotentResponse{StatusCode: 201, Body: []byte(`{}`)}
		f.noErr("finish", f.s.FinishIdempotent(f.ctx, "key", resp))
		saved, _, err := f.s.BeginIdempotent(f.ctx, "key", exp.Add(-time.Millisecond), exp, "")
		f.noErr("begin long after finish", err)
		if saved == nil || saved.StatusCode != 201 {
			f.Errorf("saved response: got %+v, want %+v", saved, resp)
		}
	}},
}
