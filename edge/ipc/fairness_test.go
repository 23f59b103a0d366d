package ipc

import (
	"strings"
	"testing"

	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestLanesRefuseAComponentOverItsLimitsAndOnlyIt(t *testing.T) {
	tests := []struct {
		name     string
		burst    int
		inFlight int
		admitted int // requests admitted out of 10, none answered yet
	}{
		{"in-flight cap", 100, 3, 3},
		{"token bucket", 4, 100, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A rate of a token per 1000 s: the bucket does not refill
			// during the test.
			ls := newLanes(0.001, tt.burst, tt.inFlight)
			var held []*lane
			var err error
			for range 10 {
				var l *lane
				if l, err = ls.admit("com.example.Flood"); err == nil {
					held = append(held, l)
				}
			}
			if len(held) != tt.admitted {
				t.Errorf("admitted %d of 10, want %d", len(held), tt.admitted)
			}
			if err == nil || !strings.Contains(err.Error(), wire.CodeService+": rate limit exceeded for component com.example.Flood") {
				t.Errorf("refusal = %v, want a ServiceError naming the component", err)
			}
			if _, err := ls.admit("com.example.Other"); err != nil {
				t.Errorf("another component was refused too: %v", err)
			}
		})
	}
	t.Run("an answered request frees its slot", func(t *testing.T) {
		ls := newLanes(1e9, 1e9, 1)
		l, err := ls.admit("com.example.A")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ls.admit("com.example.A"); err == nil {
			t.Fatal("a second request in flight was admitted over a cap of 1")
		}
		l.done()
		if _, err := ls.admit("com.example.A"); err != nil {
			t.Errorf("after the answer: %v", err)
		}
	})
}
