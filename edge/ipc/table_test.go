package ipc

import (
	"context"
	"errors"
	"strings"
	"testing"

	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestCallAnswersFromTheOperationTable(t *testing.T) {
	tests := []struct {
		name     string
		op       string
		body     string
		wantCode string
		wantText string
	}{
		{"unknown operation", "FrobnicateComponent", `{}`, wire.CodeUnsupportedOperation, `"FrobnicateComponent" is unknown`},
		{"wrong type names the field", wire.OpUpdateState, `{"state":5}`, wire.CodeInvalidArguments, `field "state"`},
		{"unknown field names the field", wire.OpUpdateState, `{"state":"RUNNING","mood":"good"}`, wire.CodeInvalidArguments, `"mood"`},
		{"not JSON", wire.OpUpdateState, `{"state":`, wire.CodeInvalidArguments, "not"},
		{"operation served elsewhere", wire.OpPublishToTopic, `{}`, wire.CodeInvalidArguments, "plain NATS publish"},
	}
	s := &Server{ctx: context.Background()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.call("com.example.Caller", tt.op, []byte(tt.body))
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

func TestEveryStreamOperationIsInTheTableAndSlow(t *testing.T) {
	for _, op := range wire.StreamOperations {
		o, ok := operations[op]
		if !ok || o.fast {
			t.Errorf("operation %s: in table %v, fast %v; want in table and slow (it may wait on disk)", op, ok, o.fast)
		}
	}
}
