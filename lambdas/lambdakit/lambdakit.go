package lambdakit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// NewLogger returns a JSON logger writing to w with a service attribute;
// every record logged with a Lambda invocation's context also carries its
// requestId. Lambda stores stdout lines as they are, so each record is one
// searchable JSON object in CloudWatch Logs.
func NewLogger(w io.Writer, service string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
	return slog.New(requestIDHandler{h}).With("service", service)
}

// requestIDHandler adds the Lambda request id from the record's context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Required returns the value of the environment variable name, or an error
// saying what it should hold.
func Required(name, holds string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set; set it to %s (the CDK app in infra/ does; see lambdas/README.md)", name, holds)
	}
	return v, nil
}

// AWSConfig loads the SDK's default configuration: the Lambda role's
// credentials and region, and AWS_ENDPOINT_URL when set (tests point it at
// moto_server).
func AWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// ErrInternal is what a handler returns for a failure that is not the
// input's fault (an AWS call failed): the invocation fails, so Lambda
// retries an asynchronous event, and the caller learns nothing about the
// internals. The cause is in the log under the same request id.
var ErrInternal = errors.New("internal error; the function's log has the details under this request id")

// Internal logs err at error level with msg and attrs and returns
// ErrInternal.
func Internal(ctx context.Context, log *slog.Logger, msg string, err error, attrs ...any) error {
	log.ErrorContext(ctx, msg, append(attrs, "err", err)...)
	return ErrInternal
}

// ErrRefused is what a handler returns for an event that its trigger never
// sends: empty, or not JSON (an IoT rule's event is always a JSON object). It
// is not the device's doing but the wiring's (a rule's SQL changed, a
// manual invoke), so it must not pass quietly: the invocation fails, Lambda
// retries it (harmlessly: the handler refuses it again before any write)
// and then hands it to the function's on-failure destination, whose alarm
// calls a person, and where the event waits for a redrive after the fix.
var ErrRefused = errors.New("event refused: it is not an event this function's trigger sends; the function's log has the reason under this request id")

// Refused logs err at error level with msg and attrs and returns ErrRefused.
func Refused(ctx context.Context, log *slog.Logger, msg string, err error, attrs ...any) error {
	log.ErrorContext(ctx, msg, append(attrs, "reason", err.Error())...)
	return ErrRefused
}

// maxLoggedEvent bounds how much of a refused event CheckEvent quotes.
const maxLoggedEvent = 64

// CheckEvent returns an error unless event is a non-empty JSON document.
func CheckEvent(event []byte) error {
	trimmed := bytes.TrimSpace(event)
	switch {
	case len(trimmed) == 0 || string(trimmed) == "null":
		return errors.New("the event is empty")
	case !json.Valid(trimmed):
		quoted := trimmed[:min(len(trimmed), maxLoggedEvent)]
		return fmt.Errorf("the event is not JSON (%d bytes, starting %q)", len(trimmed), quoted)
	}
	return nil
}

// Fatal logs a cold-start failure and exits: a function that cannot start
// must fail every invocation loudly rather than run half-configured.
func Fatal(log *slog.Logger, msg string, err error) {
	log.Error(msg, "err", err)
	os.Exit(1)
}
