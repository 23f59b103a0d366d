package testlog

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Logf and runs cleanups on demand.
type recorder struct {
	testing.TB
	failed   bool
	logged   []string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Failed() bool     { return r.failed }
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Logf(f string, args ...any) {
	r.logged = append(r.logged, strings.TrimSpace(fmt.Sprintf(f, args...)))
}

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestTheLogIsPrintedOnlyWhenTheTestFails(t *testing.T) {
	for _, failed := range []bool{false, true} {
		r := &recorder{TB: t, failed: failed}
		New(r).Warn("store could not be made", "service", "broker")
		r.finish()
		printed := strings.Join(r.logged, "\n")
		if got := strings.Contains(printed, "store could not be made") && strings.Contains(printed, "service=broker"); got != failed {
			t.Errorf("failed=%v: log printed = %v, want %v (output %q)", failed, got, failed, printed)
		}
	}
}
