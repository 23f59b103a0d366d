// Package spool owns the durable queue of messages waiting for AWS IoT
// Core: a JetStream file stream that the cloud link (edge/iotcore) appends
// to before it acknowledges a publish, reads in order while connected, and
// trims only up to the last message IoT Core acknowledged with a PUBACK.
//
// # Durability
//
// Add returns once JetStream has acknowledged the message, which it does
// after writing it to the stream's block file (file storage, one replica).
// An added message therefore survives a kill -9 of the nucleus; like every
// JetStream write of the nucleus (see edge/broker's SyncAlways, and
// edge/stream/README.md), it is fsynced by nats-server's periodic sync
// (every 2 minutes by default), so a power loss inside that window can
// lose the newest additions. The spool does not fsync itself: at one fsync
// per message it would be bound to the disk's fsync rate (2-3k/s on eMMC),
// under the 5,000 msg/s it is meant to carry.
//
// Messages leave the spool only through Remove, which the link calls with
// the highest sequence number below which IoT Core acknowledged
// everything. A crash between the PUBACK and Remove sends those messages
// again after restart: delivery is at least once, in order.
//
// # Bounds
//
// The stream is bounded by MaxBytes (Greengrass's spooler.maxSizeInBytes).
// When it is full, DropOldest (Greengrass's behaviour) lets JetStream
// remove the oldest messages to make room; RefuseNew makes Add fail with
// ErrFull and keeps what is stored.
package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DefaultStream is the JetStream stream that holds the spool.
	DefaultStream = "SWARD_IOTCORE_SPOOL"

	// DefaultMaxBytes is Greengrass's default spooler.maxSizeInBytes
	// (2.5 MiB): the same bound, but on disk, so it survives restarts.
	DefaultMaxBytes = 2_621_440

	// subjectPrefix is where the spool's messages are stored; components
	// have no permission on $SWARD subjects, so only the nucleus writes here.
	subjectPrefix = "$SWARD.spool."

	// Headers carrying what an MQTT publish needs besides its payload.
	headerTopic  = "Sward-Topic"
	headerQoS    = "Sward-Qos"
	headerRetain = "Sward-Retain"
)

// Policy is what Add does when the spool is full.
type Policy string

const (
	// DropOldest removes the oldest messages to make room (Greengrass's
	// spooler does this).
	DropOldest Policy = "DropOldest"
	// RefuseNew refuses the new message with ErrFull.
	RefuseNew Policy = "RefuseNew"
)

// ErrFull is returned by Add when the spool is full and its policy is
// RefuseNew.
var ErrFull = errors.New("cloud spool is full")

// Options configures a Spool.
type Options struct {
	// JetStream is the nucleus's JetStream handle. Required.
	JetStream jetstream.JetStream
	// Stream names the JetStream stream. Default DefaultStream.
	Stream string
	// MaxBytes bounds the stored messages, headers included. Default
	// DefaultMaxBytes.
	MaxBytes int64
	// WhenFull is DropOldest (default) or RefuseNew.
	WhenFull Policy
	// Logger gets the spool's logs. Default slog.Default().
	Logger *slog.Logger
}

// Message is one spooled publish.
type Message struct {
	// Seq is the message's place in the spool, set by Add and Reader.
	Seq     uint64
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Spool is a durable, bounded, ordered queue of messages for the cloud.
// Its methods are safe for concurrent use.
type Spool struct {
	opts    Options
	subject string
	stream  jetstream.Stream
	log     *slog.Logger
}

// Open creates the spool's stream, or updates its bounds when it exists
// (a restart keeps what it holds).
func Open(ctx context.Context, opts Options) (*Spool, error) {
	if opts.JetStream == nil {
		return nil, errors.New("spool: Options.JetStream is required")
	}
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("spooler.maxSizeInBytes %d is negative: give a size in bytes, such as %d", opts.MaxBytes, DefaultMaxBytes)
	}
	discard := jetstream.DiscardOld
	switch opts.WhenFull {
	case "", DropOldest:
		opts.WhenFull = DropOldest
	case RefuseNew:
		discard = jetstream.DiscardNew
	default:
		return nil, fmt.Errorf("spool policy %q is unknown: use %s or %s", opts.WhenFull, DropOldest, RefuseNew)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Spool{opts: opts, subject: subjectPrefix + opts.Stream, log: opts.Logger}
	cfg := jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "messages for AWS IoT Core waiting for their PUBACK (edge/spool)",
		Subjects:    []string{s.subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxBytes:    opts.MaxBytes,
		Discard:     discard,
		Replicas:    1,
		AllowDirect: true,
	}
	st, err := opts.JetStream.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create the cloud spool stream %s (%d bytes): %w; lower spooler.maxSizeInBytes if the JetStream store is full", opts.Stream, opts.MaxBytes, err)
	}
	s.stream = st
	return s, nil
}

// MaxBytes is the spool's bound.
func (s *Spool) MaxBytes() int64 { return s.opts.MaxBytes }

// Add stores m and returns its sequence number once JetStream has written
// it (see the package doc for what survives what). A full RefuseNew spool
// returns ErrFull.
func (s *Spool) Add(ctx context.Context, m Message) (uint64, error) {
	msg := &nats.Msg{Subject: s.subject, Data: m.Payload, Header: nats.Header{}}
	msg.Header.Set(headerTopic, m.Topic)
	msg.Header.Set(headerQoS, string('0'+m.QoS))
	if m.Retain {
		msg.Header.Set(headerRetain, "1")
	}
	ack, err := s.opts.JetStream.PublishMsg(ctx, msg)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum bytes exceeded") {
			return 0, fmt.Errorf("%w (%d bytes, policy %s): wait for the link to drain it, raise spooler.maxSizeInBytes, or use %s", ErrFull, s.opts.MaxBytes, s.opts.WhenFull, DropOldest)
		}
		return 0, fmt.Errorf("spool a message for %q: %w", m.Topic, err)
	}
	return ack.Sequence, nil
}

// Stats is what the spool holds.
type Stats struct {
	Messages uint64
	Bytes    uint64
	// First is the oldest message's sequence number (0 when empty), Last
	// the newest ever added.
	First, Last uint64
}

// Stats asks JetStream what the spool holds.
func (s *Spool) Stats(ctx context.Context) (Stats, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("cloud spool stream %s: %w", s.opts.Stream, err)
	}
	st := Stats{Messages: info.State.Msgs, Bytes: info.State.Bytes, Last: info.State.LastSeq}
	if st.Messages > 0 {
		st.First = info.State.FirstSeq
	}
	return st, nil
}

// Remove deletes every message with a sequence number up to and including
// upTo: the link calls it with the highest sequence number below which IoT
// Core acknowledged everything.
func (s *Spool) Remove(ctx context.Context, upTo uint64) error {
	if err := s.stream.Purge(ctx, jetstream.WithPurgeSequence(upTo+1)); err != nil {
		return fmt.Errorf("remove acknowledged messages up to %d from the cloud spool: %w", upTo, err)
	}
	return nil
}

// Reader returns the spool's messages in order from sequence number from
// on (or from the oldest still stored), waiting for new ones. Close it
// when done.
func (s *Spool) Reader(ctx context.Context, from uint64) (*Reader, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	c, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read the cloud spool from %d: %w", from, err)
	}
	it, err := c.Messages()
	if err != nil {
		return nil, fmt.Errorf("read the cloud spool from %d: %w", from, err)
	}
	return &Reader{it: it}, nil
}

// Reader reads the spool in order.
type Reader struct {
	it jetstream.MessagesContext
}

// Next returns the next message, waiting until one is added or ctx ends.
func (r *Reader) Next(ctx context.Context) (Message, error) {
	msg, err := r.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return Message{}, ctx.Err()
		}
		return Message{}, fmt.Errorf("read the cloud spool: %w", err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return Message{}, fmt.Errorf("read the cloud spool: %w", err)
	}
	h := msg.Headers()
	m := Message{Seq: meta.Sequence.Stream, Topic: h.Get(headerTopic), Payload: msg.Data(), Retain: h.Get(headerRetain) == "1"}
	if q := h.Get(headerQoS); q == "0" {
		m.QoS = 0
	} else {
		m.QoS = 1
	}
	return m, nil
}

// Close stops the reader.
func (r *Reader) Close() { r.it.Stop() }
