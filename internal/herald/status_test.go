package herald

import "testing"

func TestMessageStatusString(t *testing.T) {
	t.Parallel()
	for s, want := range map[MessageStatus]string{
		StatusSuccess: "success", StatusPending: "pending", StatusFail: "fail",
		StatusSending: "sending", StatusCanceled: "canceled", MessageStatus(9): "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("MessageStatus(%d).String() = %q, want %q", s, got, want)
		}
	}
}
