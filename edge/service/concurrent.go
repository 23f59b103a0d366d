package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Concurrent is one Service made of services that need nothing of each
// other, only of the services listed before the group: its Start starts
// them all at once and returns when each has started, so the group costs
// the start time of its slowest member instead of the sum (on a fresh root
// most of it is JetStream creating each member's buckets and streams).
// When a member fails, the members that started are shut down again and
// Start returns every failure, each naming its member; Shutdown shuts every
// member down at once and waits for all of them. A service listed after the
// group sees everything every member did in its Start.
func Concurrent(name string, services ...Service) Service {
	return &concurrent{name: name, services: services}
}

type concurrent struct {
	name     string
	services []Service
}

func (c *concurrent) Name() string { return c.name }

func (c *concurrent) Start(ctx context.Context) error {
	errs := c.each(func(s Service) error {
		if err := s.Start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", s.Name(), err)
		}
		return nil
	})
	var failed []error
	var started []Service
	for i, err := range errs {
		if err != nil {
			failed = append(failed, err)
		} else {
			started = append(started, c.services[i])
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return errors.Join(append(failed, (&concurrent{services: started}).Shutdown(ctx))...)
}

func (c *concurrent) Shutdown(ctx context.Context) error {
	return errors.Join(c.each(func(s Service) error {
		if err := s.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown %s: %w", s.Name(), err)
		}
		return nil
	})...)
}

// each calls f for every service at once and returns their results in
// service order.
func (c *concurrent) each(f func(Service) error) []error {
	errs := make([]error, len(c.services))
	var wg sync.WaitGroup
	for i, s := range c.services {
		wg.Go(func() { errs[i] = f(s) })
	}
	wg.Wait()
	return errs
}
