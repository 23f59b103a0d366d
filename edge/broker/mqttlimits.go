package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MQTTLimits bounds the JetStream streams nats-server keeps for MQTT
// ($MQTT_rmsgs, $MQTT_sess, $MQTT_msgs, $MQTT_qos2in, $MQTT_out), which any
// MQTT client, anonymous ones included, can make grow. Each field maps to
// the config file key in its comment (mqtt.<key>); zero takes the default.
// The defaults are sized for a 512 MB board with the default 1 GiB store:
// the MQTT streams together reserve at most 160 MiB of it (see
// MQTTLimits.Reserved), leaving the rest to the nucleus's own state and the
// stream manager.
type MQTTLimits struct {
	// RetainedMaxBytes bounds all retained messages together
	// (mqtt.retainedMaxBytes). Default 32 MiB.
	RetainedMaxBytes int64
	// RetainedMaxMessages bounds the number of retained topics
	// (mqtt.retainedMaxMessages). Default 10,000.
	RetainedMaxMessages int64
	// RetainedMaxMessageBytes bounds one retained message
	// (mqtt.retainedMaxMessageBytes). Default 128 KiB, AWS IoT Core's
	// message size limit.
	RetainedMaxMessageBytes int32
	// MaxSessions bounds the MQTT sessions kept (mqtt.maxSessions): one per
	// client id. Default 1,000.
	MaxSessions int64
	// SessionMaxBytes bounds one client's session record, which lists its
	// subscriptions (mqtt.sessionMaxBytes): a client over it is refused at
	// connect or subscribe. Default 64 KiB, about 500 subscriptions.
	SessionMaxBytes int32
	// PendingMaxBytes bounds the QoS 1 and 2 messages kept for subscribers
	// that have not acknowledged them yet (mqtt.pendingMaxBytes); the
	// oldest go first. Default 64 MiB.
	PendingMaxBytes int64
}

// Default MQTT limits; see MQTTLimits.
const (
	DefaultMQTTRetainedMaxBytes        = 32 << 20
	DefaultMQTTRetainedMaxMessages     = 10_000
	DefaultMQTTRetainedMaxMessageBytes = 128 << 10
	DefaultMQTTMaxSessions             = 1_000
	DefaultMQTTSessionMaxBytes         = 64 << 10
	DefaultMQTTPendingMaxBytes         = 64 << 20

	// mqttQoS2MaxBytes bounds $MQTT_qos2in and $MQTT_out each: they hold
	// one small record per QoS 2 message in flight, a few hundred bytes,
	// so 4 MiB is over ten thousand of them.
	mqttQoS2MaxBytes = 4 << 20
)

func (l MQTTLimits) withDefaults() MQTTLimits {
	set := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	set(&l.RetainedMaxBytes, DefaultMQTTRetainedMaxBytes)
	set(&l.RetainedMaxMessages, DefaultMQTTRetainedMaxMessages)
	set(&l.MaxSessions, DefaultMQTTMaxSessions)
	set(&l.PendingMaxBytes, DefaultMQTTPendingMaxBytes)
	if l.RetainedMaxMessageBytes == 0 {
		l.RetainedMaxMessageBytes = DefaultMQTTRetainedMaxMessageBytes
	}
	if l.SessionMaxBytes == 0 {
		l.SessionMaxBytes = DefaultMQTTSessionMaxBytes
	}
	return l
}

func (l MQTTLimits) check() error {
	if l.RetainedMaxBytes < 0 || l.RetainedMaxMessages < 0 || l.RetainedMaxMessageBytes < 0 ||
		l.MaxSessions < 0 || l.SessionMaxBytes < 0 || l.PendingMaxBytes < 0 {
		return invalidf("broker: MQTT limits must not be negative (%+v): use 0 for the defaults", l)
	}
	if int64(l.RetainedMaxMessageBytes) > l.RetainedMaxBytes {
		return invalidf("broker: MQTT RetainedMaxMessageBytes %d is over RetainedMaxBytes %d: one message could never be stored; lower it or raise RetainedMaxBytes", l.RetainedMaxMessageBytes, l.RetainedMaxBytes)
	}
	return nil
}

// Reserved is the JetStream file storage the MQTT streams reserve: their
// bounds added up. nats-server reserves a stream's bound when it is created
// or updated, and refuses a stream whose bound does not fit in MaxStore.
func (l MQTTLimits) Reserved() int64 {
	return l.RetainedMaxBytes + l.MaxSessions*int64(l.SessionMaxBytes) + l.PendingMaxBytes + 2*mqttQoS2MaxBytes
}

// streams returns the MQTT streams' configurations: nats-server's own
// (mqtt.go, mqttCreateAccountSessionManager: it uses streams that exist
// instead of creating them) with the bounds added.
func (l MQTTLimits) streams() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:              "$MQTT_rmsgs",
		Description:       "MQTT retained messages, bounded by the broker (mqtt.retainedMaxBytes, retainedMaxMessages, retainedMaxMessageBytes)",
		Subjects:          []string{"$MQTT.rmsgs.>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		// DiscardNew: a full store refuses a new retained topic (nats-server
		// logs it with the client) rather than dropping another client's;
		// replacing a topic's retained message still works.
		Discard:    jetstream.DiscardNew,
		MaxBytes:   l.RetainedMaxBytes,
		MaxMsgs:    l.RetainedMaxMessages,
		MaxMsgSize: l.RetainedMaxMessageBytes,
	}, {
		Name:              "$MQTT_sess",
		Description:       "MQTT sessions, bounded by the broker (mqtt.maxSessions, sessionMaxBytes)",
		Subjects:          []string{"$MQTT.sess.>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardNew,
		MaxMsgs:           l.MaxSessions,
		MaxBytes:          l.MaxSessions * int64(l.SessionMaxBytes),
		MaxMsgSize:        l.SessionMaxBytes,
	}, {
		Name:        "$MQTT_msgs",
		Description: "MQTT QoS 1 and 2 messages for subscribers, bounded by the broker (mqtt.pendingMaxBytes)",
		Subjects:    []string{"$MQTT.msgs.>"},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    l.PendingMaxBytes,
	}, {
		Name:                 "$MQTT_qos2in",
		Description:          "MQTT QoS 2 messages not yet released by their sender, bounded by the broker",
		Subjects:             []string{"$MQTT.qos2.in.>"},
		Retention:            jetstream.LimitsPolicy,
		Discard:              jetstream.DiscardNew,
		MaxMsgsPerSubject:    1,
		DiscardNewPerSubject: true,
		MaxBytes:             mqttQoS2MaxBytes,
	}, {
		Name:        "$MQTT_out",
		Description: "MQTT QoS 2 PUBREL records, bounded by the broker",
		Subjects:    []string{"$MQTT.out.>"},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    mqttQoS2MaxBytes,
	}}
}

// boundStream creates cfg's stream or puts cfg's bounds on it.
func boundStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	cfg.Storage = jetstream.FileStorage
	cfg.Replicas = 1
	if cfg.Discard == jetstream.DiscardNew {
		// A DiscardNew stream keeps what is over a lowered bound; a
		// DiscardOld one drops it. Trim first, then refuse.
		trim := cfg
		trim.Discard = jetstream.DiscardOld
		trim.DiscardNewPerSubject = false
		if _, err := js.UpdateStream(ctx, trim); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("broker: trim MQTT stream %s to %d bytes: %w", cfg.Name, cfg.MaxBytes, err)
		}
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("broker: bound MQTT stream %s to %d bytes: %w", cfg.Name, cfg.MaxBytes, err)
	}
	return nil
}

// noRoom reports whether err is JetStream refusing a bound the store
// cannot reserve.
func noRoom(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jsErrInsufficientResources || apiErr.ErrorCode == jsErrStorageResources)
}

// JetStream API error codes of a store that cannot reserve a bound.
const (
	jsErrInsufficientResources = 10023
	jsErrStorageResources      = 10047
)

// mqttSetupTimeout bounds boundMQTTStreams: five stream creations or
// updates in-process take milliseconds; a store that hangs longer is
// broken.
const mqttSetupTimeout = 30 * time.Second

// boundMQTTStreams creates the MQTT streams with their bounds, or puts the
// bounds on streams an earlier start (or a client faster than this) made:
// an update to a smaller bound drops the oldest messages over it, so a
// store an earlier version let fill up is brought back under the bound.
func (b *Broker) boundMQTTStreams() error {
	nc, err := nats.Connect("", nats.Name(internalUser), nats.InProcessServer(b.srv), nats.UserInfo(internalUser, b.auth.internal.Password))
	if err != nil {
		return fmt.Errorf("broker: connect to bound the MQTT streams: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("broker: bound the MQTT streams: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), mqttSetupTimeout)
	defer cancel()
	// The streams are independent: bounding them at once costs the start
	// one JetStream round trip and stream creation instead of five.
	streams := b.opts.MQTT.streams()
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, cfg := range streams {
		wg.Go(func() { errs[i] = boundStream(ctx, js, cfg) })
	}
	wg.Wait()
	for i, cfg := range streams {
		err := errs[i]
		if noRoom(err) {
			// Stream manager streams reserve the store (an earlier
			// version allowed that, or the limits were raised): the
			// broker still starts, the stream keeps its previous bound
			// (or none, as before this version).
			b.log.Error("mqtt stream not bounded: the store has no room for its bound; shrink or delete stream manager streams, or lower the --mqtt-* limits, and restart",
				"stream", cfg.Name, "max_bytes", cfg.MaxBytes, "error", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}
