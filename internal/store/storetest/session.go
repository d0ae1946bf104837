package storetest

import (
	"bytes"
	"time"
)

// sessionTests specify the record of dashboard sessions ended at logout.
var sessionTests = []test{
	{"RevokedSessionIsRefusedOthersAreNot", func(f *fixture) {
		ended, other := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		f.wantRevoked(ended, false)
		f.noErr("revoke session", f.s.RevokeSession(f.ctx, ended, f.at(time.Hour)))
		f.wantRevoked(ended, true)
		f.wantRevoked(other, false)
		// Two tabs logging out of one session both succeed.
		f.noErr("revoke session again", f.s.RevokeSession(f.ctx, ended, f.at(time.Hour)))
		f.wantRevoked(ended, true)
	}},
	{"RevokingAgainKeepsTheLaterExpiry", func(f *fixture) {
		id := bytes.Repeat([]byte{3}, 32)
		f.noErr("revoke session", f.s.RevokeSession(f.ctx, id, f.at(2*time.Hour)))
		f.noErr("revoke session earlier", f.s.RevokeSession(f.ctx, id, f.at(time.Hour)))
		n, err := f.s.ExpireRevokedSessions(f.ctx, f.at(time.Hour), 10)
		f.noErr("expire revoked sessions", err)
		if n != 0 {
			f.Errorf("expire at the earlier expiry: got %d deleted, want 0", n)
		}
		f.wantRevoked(id, true)
	}},
	// A revocation goes once its session would be refused as expired
	// anyway, at most limit a call; until then it stays.
	{"ExpireRevokedSessionsDeletesExpiredRecords", func(f *fixture) {
		old, due, live := []byte("old"), []byte("due"), []byte("live")
		f.noErr("revoke old", f.s.RevokeSession(f.ctx, old, f.at(time.Hour)))
		f.noErr("revoke due", f.s.RevokeSession(f.ctx, due, f.at(2*time.Hour)))
		f.noErr("revoke live", f.s.RevokeSession(f.ctx, live, f.at(2*time.Hour+time.Millisecond)))
		for i, want := range []int{1, 1, 0} {
			n, err := f.s.ExpireRevokedSessions(f.ctx, f.at(2*time.Hour), 1)
			f.noErr("expire revoked sessions", err)
			if n != want {
				f.Errorf("call %d: got %d expired, want %d", i+1, n, want)
			}
		}
		f.wantRevoked(old, false)
		f.wantRevoked(due, false)
		f.wantRevoked(live, true)
	}},
}

// wantRevoked checks SessionRevoked for id.
func (f *fixture) wantRevoked(id []byte, want bool) {
	f.Helper()
	got, err := f.s.SessionRevoked(f.ctx, id)
	f.noErr("session revoked", err)
	if got != want {
		f.Errorf("session %q revoked: got %v, want %v", id, got, want)
	}
}
