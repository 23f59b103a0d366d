package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/ipc/op"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// testTable is the operation table of these tests: the operations served
// elsewhere, and the Echo fixture of ipc_echo_test.go.
func testTable() *op.Table {
	t := op.NewTable()
	RegisterServedElsewhere(t)
	t.Register(opEcho, op.Operation{Fast: true, Handle: echo})
	return t
}

const (
	allowed = "com.example.Allowed" // its accessControl grants everything
	denied  = "com.example.Denied"  // deployed, with no policies
)

// fakeAuthorizer knows two deployed components: one granted everything,
// one nothing; both own any reply subject.
type fakeAuthorizer struct{}

func (fakeAuthorizer) Known(c string) bool              { return c == allowed || c == denied }
func (fakeAuthorizer) OwnsReply(c, _ string) bool       { return true }
func (fakeAuthorizer) Allows(c, _, _, _ string) bool    { return c == allowed }
func (fakeAuthorizer) OnRemoved(func(component string)) {}

func TestCallAnswersFromTheOperationTable(t *testing.T) {
	tests := []struct {
		name     string
		caller   string
		op       string
		body     string
		wantCode string
		wantText string
	}{
		{"unknown operation", allowed, "FrobnicateComponent", `{}`, wire.CodeUnsupportedOperation, `"FrobnicateComponent" is unknown`},
		{"wrong type names the field", allowed, opEcho, `{"message":5}`, wire.CodeInvalidArguments, `field "message"`},
		{"unknown field names the field", allowed, opEcho, `{"message":"hi","mood":"good"}`, wire.CodeInvalidArguments, `"mood"`},
		{"not JSON", allowed, opEcho, `{"message":`, wire.CodeInvalidArguments, "not"},
		{"not granted", denied, opEcho, `{"message":"hi"}`, wire.CodeUnauthorized, "add a sward.test.Echo policy"},
		{"operation served elsewhere", allowed, wire.OpPublishToTopic, `{}`, wire.CodeInvalidArguments, "plain NATS publish"},
	}
	s := &Server{ctx: context.Background(), ops: testTable(), log: testlog.New(t), opts: Options{Authorizer: fakeAuthorizer{}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.call(tt.caller, tt.op, []byte(tt.body))
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("call(%s, %s) = %v; want a *wire.Error", tt.op, tt.body, err)
			}
			if we.Code != tt.wantCode || !strings.Contains(we.Message, tt.wantText) {
				t.Fatalf("call(%s, %s) = %s %q; want %s containing %q", tt.op, tt.body, we.Code, we.Message, tt.wantCode, tt.wantText)
			}
		})
	}
}

// TestAnOperationInTheTableIsServedOverTheBus: the Echo fixture, one file
// and one line in testTable, answers a component's request end to end:
// subject, lane, decode, authorization, handler, encoded reply, metrics.
func TestAnOperationInTheTableIsServedOverTheBus(t *testing.T) {
	b, err := broker.New(broker.Options{NATSListen: "127.0.0.1:-1", StoreDir: t.TempDir(),
		Users: []broker.User{{Name: "nucleus", Password: "nucleus-secret"}}, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "nucleus")
	m := &countingMetrics{}
	s, err := New(Options{Conn: nc, Authorizer: fakeAuthorizer{}, Operations: testTable(), Metrics: m, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)

	msg, err := nc.Request(wire.OperationSubject(allowed, opEcho), []byte(`{"message":"hello"}`), testutil.WaitTimeout)
	if err != nil {
		t.Fatalf("Echo request: %v", err)
	}
	var got echoResponse
	if err := json.Unmarshal(msg.Data, &got); err != nil || got != (echoResponse{Message: "hello", Caller: allowed}) {
		t.Fatalf("Echo answered %s (%v); want the message and the caller's name", msg.Data, err)
	}
	msg, err = nc.Request(wire.OperationSubject(allowed, "Frobnicate"), []byte(`{}`), testutil.WaitTimeout)
	if err != nil {
		t.Fatalf("Frobnicate request: %v", err)
	}
	if e := wire.DecodeError(msg.Data); e == nil || e.Code != wire.CodeUnsupportedOperation {
		t.Fatalf("Frobnicate answered %s; want UnsupportedOperationError", msg.Data)
	}
	testutil.Until(t, "both requests counted", func() bool { return len(m.observed()) == 2 })
	// Each is counted after its reply went out, so in either order.
	if got := m.observed(); !slices.Contains(got, opEcho+" ok") || !slices.Contains(got, "unknown "+wire.CodeUnsupportedOperation) {
		t.Fatalf("metrics saw %v; want Echo ok and an unknown operation (names outside the table are not labels)", got)
	}
}

// countingMetrics records "<operation> <code>" for each request.
type countingMetrics struct {
	mu  sync.Mutex
	ops []string
}

func (c *countingMetrics) ObserveRequest(op string, err error, _ time.Duration) {
	code := "ok"
	if err != nil {
		code = wire.AsError(err).Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops = append(c.ops, op+" "+code)
}

func (c *countingMetrics) Forget(string) {}

func (c *countingMetrics) observed() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}
