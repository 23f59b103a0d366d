package broker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// plaintextWarning starts the warning nats-server prints at every start and
// reload because user passwords are not bcrypt hashes. They are plain on
// purpose: they are random per-user secrets that the nucleus holds anyway
// (Connect needs them), and bcrypt would cost tens of milliseconds of CPU per
// connection on a small board, and again per client on every SetUsers.
const plaintextWarning = "Plaintext passwords detected"

// retainedRefusedMark is in the line nats-server logs when an MQTT client's
// retained message is not stored (mqtt.go, mqttHandlePubRetain).
const retainedRefusedMark = "unable to store retained message"

// levelTrace is below slog.LevelDebug for nats-server's protocol traces.
const levelTrace = slog.LevelDebug - 4

// serverLogger routes nats-server's logging into slog.
//
// Levels: nats-server notices (startup banner, JetStream settings, reloads;
// about twenty lines per start) go to Debug, so a default Info log shows the
// broker's own one-line summaries plus nats-server's warnings and errors.
// nats-server calls Fatalf when it cannot start (listener bind, JetStream
// store); its own logger exits the process then, this one logs the error and
// records it for Start and Ready.
type serverLogger struct {
	log *slog.Logger
	// mqtt names the MQTT limits in the line of a refused retained
	// message, which nats-server words with the client but not the limit.
	mqtt MQTTLimits

	mu       sync.Mutex
	fatal    error
	writeErr string // a store write failure not yet handled (recover.go)
}

var _ server.Logger = (*serverLogger)(nil)

func (l *serverLogger) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return // skip the Sprintf for filtered debug and trace lines
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

func (l *serverLogger) Noticef(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }

func (l *serverLogger) Warnf(format string, v ...any) {
	level := slog.LevelWarn
	if strings.HasPrefix(format, plaintextWarning) {
		level = slog.LevelDebug
	}
	l.logf(level, format, v)
}
func (l *serverLogger) Errorf(format string, v ...any) {
	if strings.Contains(format, retainedRefusedMark) {
		// The writer's problem, not the broker's: a warning naming the
		// bounds (Options.MQTT) beside nats-server's reason and client.
		l.log.Warn(fmt.Sprintf(format, v...), "retained_max_bytes", l.mqtt.RetainedMaxBytes,
			"retained_max_messages", l.mqtt.RetainedMaxMessages, "retained_max_message_bytes", l.mqtt.RetainedMaxMessageBytes)
		return
	}
	l.logf(slog.LevelError, format, v)
	if strings.Contains(format, writeErrorMark) {
		l.noteWriteError(fmt.Sprintf(format, v...))
	}
}
func (l *serverLogger) Debugf(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }
func (l *serverLogger) Tracef(format string, v ...any) { l.logf(levelTrace, format, v) }

func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	l.mu.Lock()
	if l.fatal == nil {
		l.fatal = fmt.Errorf("nats-server: %s", msg)
	}
	l.mu.Unlock()
}

// fatalErr returns the first fatal error nats-server reported, if any.
func (l *serverLogger) fatalErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}
