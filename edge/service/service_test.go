package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// recorder builds services that log their calls into one shared trace.
type recorder struct{ trace []string }

func (r *recorder) service(name string, startErr, shutdownErr error) Service {
	return Func{ServiceName: name,
		OnStart: func(context.Context) error {
			r.trace = append(r.trace, "start "+name)
			return startErr
		},
		OnShutdown: func(context.Context) error {
			r.trace = append(r.trace, "shutdown "+name)
			return shutdownErr
		},
	}
}

func TestRunStartsInOrderAndShutdownUnwindsInReverse(t *testing.T) {
	errBoom := errors.New("boom")
	errStuck := errors.New("stuck")
	type svc struct {
		name                  string
		startErr, shutdownErr error
	}
	tests := []struct {
		name         string
		services     []svc
		wantTrace    []string // Run, then Shutdown if Run succeeded
		wantStartErr []string // substrings of Run's error
		wantStopErr  []string // substrings of Shutdown's error
		wantErrIs    []error
	}{
		{
			name:      "all start: shutdown in reverse order",
			services:  []svc{{name: "a"}, {name: "b"}, {name: "c"}},
			wantTrace: []string{"start a", "start b", "start c", "shutdown c", "shutdown b", "shutdown a"},
		},
		{
			name:         "first fails: nothing to unwind",
			services:     []svc{{name: "a", startErr: errBoom}, {name: "b"}},
			wantTrace:    []string{"start a"},
			wantStartErr: []string{"start a: boom"},
			wantErrIs:    []error{errBoom},
		},
		{
			name:         "third fails: the first two unwind in reverse, the rest never start",
			services:     []svc{{name: "a"}, {name: "b"}, {name: "c", startErr: errBoom}, {name: "d"}},
			wantTrace:    []string{"start a", "start b", "start c", "shutdown b", "shutdown a"},
			wantStartErr: []string{"start c: boom"},
			wantErrIs:    []error{errBoom},
		},
		{
			name:         "unwind errors join the start error, each naming its service",
			services:     []svc{{name: "a", shutdownErr: errStuck}, {name: "b", startErr: errBoom}},
			wantTrace:    []string{"start a", "start b", "shutdown a"},
			wantStartErr: []string{"start b: boom", "shutdown a: stuck"},
			wantErrIs:    []error{errBoom, errStuck},
		},
		{
			name:        "shutdown goes on past a failing service and joins the errors",
			services:    []svc{{name: "a", shutdownErr: errors.New("lost a")}, {name: "b"}, {name: "c", shutdownErr: errStuck}},
			wantTrace:   []string{"start a", "start b", "start c", "shutdown c", "shutdown b", "shutdown a"},
			wantStopErr: []string{"shutdown c: stuck", "shutdown a: lost a"},
			wantErrIs:   []error{errStuck},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			var services []Service
			for _, s := range tt.services {
				services = append(services, r.service(s.name, s.startErr, s.shutdownErr))
			}
			ctx := context.Background()
			list, err := Run(ctx, services...)
			checkErr(t, "Run", err, tt.wantStartErr)
			if err == nil {
				err = list.Shutdown(ctx)
				checkErr(t, "Shutdown", err, tt.wantStopErr)
			}
			for _, target := range tt.wantErrIs {
				if !errors.Is(err, target) {
					t.Errorf("error %v does not wrap %v", err, target)
				}
			}
			if !slices.Equal(r.trace, tt.wantTrace) {
				t.Errorf("calls = %q, want %q", r.trace, tt.wantTrace)
			}
		})
	}
}

func checkErr(t *testing.T, what string, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s: no error, want one naming %q", what, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s error %q does not say %q", what, err, w)
		}
	}
}

func TestShutdownTwiceShutsDownOnce(t *testing.T) {
	r := &recorder{}
	list, err := Run(context.Background(), r.service("a", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := list.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"start a", "shutdown a"}; !slices.Equal(r.trace, want) {
		t.Errorf("calls = %q, want %q", r.trace, want)
	}
}
