package iotcore

import (
	"context"
	"errors"
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// inflight is a publish awaiting its PUBACK.
type inflight struct {
	seq uint64
	tok mqtt.Token
}

// send publishes the spool in order on client, from the first message not
// yet acknowledged, keeping at most MaxInFlight unacknowledged, until ctx
// ends or a publish fails. Messages are acknowledged in spool order, so a
// reconnect resends from the first one without a PUBACK: duplicates only
// across reconnects, never a gap.
func (s *Service) send(ctx context.Context, client mqtt.Client) error {
	s.mu.Lock()
	from := s.acked + 1
	sp := s.spool
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, err := sp.Reader(ctx, from)
	if err != nil {
		return err
	}
	defer r.Close()
	// slots bounds the publishes awaiting a PUBACK; window hands them, in
	// order, to the goroutine that waits for the PUBACKs.
	slots := make(chan struct{}, s.opts.MaxInFlight)
	window := make(chan inflight, s.opts.MaxInFlight)
	failed := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range window {
			select {
			case <-p.tok.Done():
			case <-ctx.Done():
				return
			}
			if err := p.tok.Error(); err != nil {
				failed <- fmt.Errorf("%w: spooled message %d: %v", errAckless, p.seq, err)
				cancel() // ends Next and Wait below
				return
			}
			s.acknowledged(p.seq)
			<-slots
		}
	}()
	defer func() { cancel(); close(window); <-done }()
	for {
		m, err := r.Next(ctx)
		if err == nil {
			err = s.limiter.Wait(ctx)
		}
		if err == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			select {
			case err := <-failed:
				return err
			default:
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		tok := client.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
		window <- inflight{m.Seq, tok} // never blocks: a slot is held
	}
}

// errAckless is returned by send when a publish fails without the link
// being reported lost.
var errAckless = errors.New("publish failed")
