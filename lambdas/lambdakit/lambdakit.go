package lambdakit

import (
	"context"
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

// Fatal logs a cold-start failure and exits: a function that cannot start
// must fail every invocation loudly rather than run half-configured.
func Fatal(log *slog.Logger, msg string, err error) {
	log.Error(msg, "err", err)
	os.Exit(1)
}
