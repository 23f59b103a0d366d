// Package lambdatest helps the handlers' unit tests: an AWS configuration
// whose every call fails at once (a closed loopback port, the real fault of
// an unreachable service) and a logger whose output tests read. The
// handlers' behaviour against working services is tested against
// moto_server in test/cloud.
package lambdatest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sward-iot/sward/lambdas/lambdakit"
)

// Unreachable returns an SDK configuration pointing at a loopback port
// that nothing listens on, without retries: every AWS call fails fast with
// a connection error.
func Unreachable(t testing.TB) aws.Config {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint:     aws.String("http://" + addr),
		RetryMaxAttempts: 1,
	}
}

// Log is a JSON logger into memory.
type Log struct {
	*slog.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLog returns a logger like the Lambdas' (lambdakit.NewLogger) that
// keeps its records for the test.
func NewLog(service string) *Log {
	l := &Log{}
	l.Logger = lambdakit.NewLogger(lockedWriter{l}, service)
	return l
}

type lockedWriter struct{ l *Log }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}

// Records returns every record logged so far, decoded.
func (l *Log) Records(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// Find returns the first record with message msg, or nil.
func (l *Log) Find(t testing.TB, msg string) map[string]any {
	t.Helper()
	for _, r := range l.Records(t) {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}
