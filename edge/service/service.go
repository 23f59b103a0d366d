// Package service owns the one lifecycle every nucleus service has: a name,
// a non-blocking Start and a Shutdown that returns once every goroutine the
// service started has ended. The nucleus lists its services in start order
// and hands the list to Run; List.Shutdown unwinds it in reverse.
//
//	Run(ctx, a, b, c)   a.Start → b.Start → c.Start
//	  b.Start fails     a.Shutdown; Run returns b's error (and a's, if any)
//	List.Shutdown       c.Shutdown → b.Shutdown → a.Shutdown, errors joined
//
// Concurrent makes one list entry of services that need only what the
// entries before them started: they start (and shut down) at once.
package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Service is one part of the nucleus. Start does not block: it starts the
// service's goroutines and subscriptions and returns. Shutdown stops them
// and waits for them, or returns ctx's error when ctx ends first. A Start
// that fails leaves nothing of its service running (Shutdown is not called
// for it). A service subscribes to nothing before Start.
type Service interface {
	Name() string
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Func is a Service made of two functions, for adapting a service whose
// own methods differ (Close instead of Shutdown, a constructor that needs
// what an earlier service started). A nil OnStart or OnShutdown does nothing.
type Func struct {
	ServiceName string
	OnStart     func(ctx context.Context) error
	OnShutdown  func(ctx context.Context) error
}

// Name returns ServiceName.
func (f Func) Name() string { return f.ServiceName }

// Start calls OnStart.
func (f Func) Start(ctx context.Context) error {
	if f.OnStart == nil {
		return nil
	}
	return f.OnStart(ctx)
}

// Shutdown calls OnShutdown.
func (f Func) Shutdown(ctx context.Context) error {
	if f.OnShutdown == nil {
		return nil
	}
	return f.OnShutdown(ctx)
}

// List is the services Run started, in start order.
type List struct {
	mu      sync.Mutex
	started []Service
}

// Run starts services in order. When the k-th fails it shuts the first k-1
// down again, in reverse order, and returns the k-th's start error joined
// with their shutdown errors, each naming its service.
func Run(ctx context.Context, services ...Service) (*List, error) {
	l := &List{}
	for _, s := range services {
		if err := s.Start(ctx); err != nil {
			err = fmt.Errorf("start %s: %w", s.Name(), err)
			return nil, errors.Join(err, l.Shutdown(ctx))
		}
		l.mu.Lock()
		l.started = append(l.started, s)
		l.mu.Unlock()
	}
	return l, nil
}

// Shutdown shuts every started service down in reverse start order, each
// even when an earlier one failed, and returns their errors joined, each
// naming its service. A second call does nothing.
func (l *List) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	started := l.started
	l.started = nil
	l.mu.Unlock()
	var errs []error
	for i := len(started) - 1; i >= 0; i-- {
		if err := started[i].Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", started[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}
