package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is a service whose Start blocks until every member of its group has
// entered Start, which only happens when they start at the same time.
type gate struct {
	name     string
	arrived  *sync.WaitGroup
	startErr error
	mu       *sync.Mutex
	trace    *[]string
}

func (g gate) Name() string { return g.name }

func (g gate) Start(context.Context) error {
	g.arrived.Done()
	done := make(chan struct{})
	go func() { g.arrived.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return errors.New("the other members never started: Start ran them one after another")
	}
	g.record("start " + g.name)
	return g.startErr
}

func (g gate) Shutdown(context.Context) error {
	g.record("shutdown " + g.name)
	return nil
}

func (g gate) record(s string) {
	g.mu.Lock()
	*g.trace = append(*g.trace, s)
	g.mu.Unlock()
}

func gates(trace *[]string, startErrs map[string]error, names ...string) []Service {
	var arrived sync.WaitGroup
	arrived.Add(len(names))
	mu := &sync.Mutex{}
	var out []Service
	for _, n := range names {
		out = append(out, gate{name: n, arrived: &arrived, startErr: startErrs[n], mu: mu, trace: trace})
	}
	return out
}

func TestConcurrentStartsMembersAtOnceAndShutsThemAllDown(t *testing.T) {
	var trace []string
	group := Concurrent("stores", gates(&trace, nil, "a", "b", "c")...)
	if group.Name() != "stores" {
		t.Errorf("Name() = %q, want stores", group.Name())
	}
	if err := group.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := group.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	slices.Sort(trace)
	want := []string{"shutdown a", "shutdown b", "shutdown c", "start a", "start b", "start c"}
	if !slices.Equal(trace, want) {
		t.Errorf("calls = %q, want %q", trace, want)
	}
}

func TestConcurrentFailureShutsDownTheMembersThatStarted(t *testing.T) {
	var trace []string
	errBoom := errors.New("boom")
	group := Concurrent("stores", gates(&trace, map[string]error{"b": errBoom}, "a", "b", "c")...)
	err := group.Start(context.Background())
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "start b: boom") {
		t.Fatalf("Start error = %v, want one naming member b and wrapping its error", err)
	}
	var shut []string
	for _, s := range trace {
		if strings.HasPrefix(s, "shutdown ") {
			shut = append(shut, s)
		}
	}
	slices.Sort(shut)
	if want := []string{"shutdown a", "shutdown c"}; !slices.Equal(shut, want) {
		t.Errorf("shut down %q after b failed, want %q (b failed, so it is not shut down)", shut, want)
	}
}

func TestConcurrentInAListUnwindsWithTheList(t *testing.T) {
	r := &recorder{}
	list, err := Run(context.Background(), r.service("before", nil, nil), Concurrent("group", r.service("member", nil, nil)), r.service("after", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start before", "start member", "start after", "shutdown after", "shutdown member", "shutdown before"}
	if !slices.Equal(r.trace, want) {
		t.Errorf("calls = %q, want %q", r.trace, want)
	}
}
