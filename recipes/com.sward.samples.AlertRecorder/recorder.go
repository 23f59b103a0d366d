package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sward-iot/sward/recipes/internal/component"
)

// Options configure the recorder process.
type Options struct {
	Subject  string // alerts to record; "sward.alerts.>" is every sensor
	File     string // the journal
	MaxBytes int64  // per journal file
	Keep     int    // rotated files kept beside the journal
	PIDFile  string // written once subscribed; start waits for it, stop reads it
	Env      component.Env
	// CloudAlerts also records the alerts the cloud publishes for this
	// device on sward/<thing>/alerts (see subscribeCloud).
	CloudAlerts bool
	// IoTCore is the IPC client for CloudAlerts; nil makes one on the
	// recorder's connection from the nucleus's environment.
	IoTCore IoTCoreSubscriber
}

// Entry is one journal line: the alert as published, with where and when it
// was received.
type Entry struct {
	Subject    string          `json:"subject"`
	ReceivedAt time.Time       `json:"receivedAt"`
	Alert      json.RawMessage `json:"alert"`
}

// Service is a running recorder.
type Service struct {
	nc  *nats.Conn
	log *slog.Logger
	mu  sync.Mutex // guards j between the subscription and Shutdown
	j   *Journal
}

// Start opens the journal, connects and subscribes; on return, alerts
// published from then on are recorded.
func Start(o Options, log *slog.Logger) (*Service, error) {
	if o.Subject == "" {
		return nil, fmt.Errorf("subject: empty: configure the alerts subject, e.g. sward.alerts.>")
	}
	j, err := OpenJournal(o.File, o.MaxBytes, o.Keep)
	if err != nil {
		return nil, err
	}
	s := &Service{log: log, j: j}
	nc, err := o.Env.Connect(log)
	if err != nil {
		j.Close()
		return nil, err
	}
	s.nc = nc
	_, err = nc.Subscribe(o.Subject, s.record)
	if err == nil {
		err = nc.Flush() // the broker refuses a forbidden subscription by now
	}
	if err != nil {
		nc.Close()
		j.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", o.Subject, err)
	}
	if o.CloudAlerts {
		ctx, cancel := context.WithTimeout(context.Background(), cloudSubscribeTimeout)
		s.subscribeCloud(ctx, o)
		cancel()
	}
	log.Info("recording", "subject", o.Subject, "file", o.File, "maxBytes", o.MaxBytes, "keepFiles", o.Keep)
	return s, nil
}

// cloudSubscribeTimeout bounds the wait for IoT Core's SUBACK at start, so
// an unreachable cloud delays recording local alerts by this much at most.
const cloudSubscribeTimeout = 5 * time.Second

func (s *Service) record(m *nats.Msg) {
	if !json.Valid(m.Data) {
		s.log.Warn("alert is not JSON, not recorded", "subject", m.Subject, "bytes", len(m.Data))
		return
	}
	s.append(m.Subject, m.Data)
}

// append journals one JSON alert received on subject (a NATS subject or,
// for the cloud's alerts, an MQTT topic).
func (s *Service) append(subject string, alert []byte) {
	line, err := json.Marshal(Entry{Subject: subject, ReceivedAt: time.Now().UTC(), Alert: alert})
	if err != nil { // RawMessage is compacted by Marshal, so no newline survives
		s.log.Error("encode entry", "subject", subject, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.j == nil {
		return
	}
	if err := s.j.Append(line); err != nil {
		s.log.Error("record alert", "subject", subject, "err", err)
	}
}

// Shutdown records the alerts already received, then closes the connection
// and the journal.
func (s *Service) Shutdown() {
	component.DrainAndClose(s.nc, s.log)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.j.Close(); err != nil {
		s.log.Warn("close journal", "err", err)
	}
	s.j = nil
}
