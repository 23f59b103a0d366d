package lifecycle

import (
	"testing"
	"time"
)

func TestRestartTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	type ev struct {
		err      bool // an error from `from`; otherwise a transition from → to
		from, to State
		at       time.Duration
	}
	tests := []struct {
		name       string
		events     []ev
		wantBroken bool
	}{
		{"two errors restart", []ev{{true, StateRunning, "", 0}, {true, StateRunning, "", time.Minute}}, false},
		{"third error from the same state is BROKEN", []ev{{true, StateRunning, "", 0}, {true, StateRunning, "", time.Minute}, {true, StateRunning, "", 2 * time.Minute}}, true},
		{"errors from different states count apart", []ev{{true, StateNew, "", 0}, {true, StateStarting, "", time.Minute}, {true, StateRunning, "", 2 * time.Minute}}, false},
		{"errors older than the window are forgotten", []ev{{true, StateRunning, "", 0}, {true, StateRunning, "", time.Minute}, {true, StateRunning, "", 2 * time.Hour}}, false},
		{"a non-error report from the state resets its count", []ev{{true, StateRunning, "", 0}, {true, StateRunning, "", time.Minute}, {false, StateRunning, StateFinished, 2 * time.Minute}, {true, StateRunning, "", 3 * time.Minute}}, false},
		{"a report from another state does not", []ev{{true, StateRunning, "", 0}, {true, StateRunning, "", time.Minute}, {false, StateInstalled, StateRunning, 2 * time.Minute}, {true, StateRunning, "", 3 * time.Minute}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newRestartTracker(time.Hour)
			var last decision
			for _, e := range tt.events {
				if e.err {
					last = tr.errored(e.from, "boom", t0.Add(e.at))
				} else {
					tr.transitioned(e.from, e.to)
				}
			}
			if last.Broken != tt.wantBroken {
				t.Errorf("broken = %v (%s), want %v", last.Broken, last.Reason, tt.wantBroken)
			}
		})
	}
}
