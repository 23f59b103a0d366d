package iotcore

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	var waiting uint64 // the message whose PUBACK the waiter awaits; read after done
	go func() {
		defer close(done)
		for p := range window {
			waiting = p.seq
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
			waiting = 0
			s.acknowledged(p.seq, true)
			<-slots
		}
	}()
	defer func() {
		cancel()
		close(window)
		<-done
		if waiting != 0 {
			s.unacknowledged(waiting)
		}
	}()
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

// unacknowledged notes that the connection ended while seq, the oldest
// message without a PUBACK, was in flight. When that happens to the same
// message more than MaxPublishRetry times in a row, IoT Core is closing
// the connection because of it (a topic the device's policy does not
// allow): it is dropped, so that it does not hold back the spool forever.
func (s *Service) unacknowledged(seq uint64) {
	s.mu.Lock()
	if seq == s.headSeq {
		s.headTries++
	} else {
		s.headSeq, s.headTries = seq, 1
	}
	tries := s.headTries
	s.mu.Unlock()
	if s.opts.MaxPublishRetry < 0 || tries <= s.opts.MaxPublishRetry {
		return
	}
	s.log.Error("spooled message dropped: the connection to IoT Core ended each time it was in flight; check that the device's policy allows iot:Publish on its topic",
		"seq", seq, "attempts", tries)
	s.mu.Lock()
	s.lastDrop, s.dropAt = fmt.Sprintf("spooled message %d dropped after %d attempts: the connection ended each time it was in flight (does the device's policy allow iot:Publish on its topic?)", seq, tries), time.Now()
	s.mu.Unlock()
	s.dropped.Add(1)
	s.acknowledged(seq, false)
}
