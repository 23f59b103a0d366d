package stream

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/ipc"
)

func TestComponentsCanReadButNotWriteReservedStreams(t *testing.T) {
	e := newEnv(t, "", Options{Reserved: []string{"NucleusStatus"}})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "NucleusStatus", MaxSize: 4096, StrategyOnFull: ipc.OverwriteOldestData})
	mustAppend(t, e.m, "NucleusStatus", []byte("record"))
	h := e.m.ForComponents()
	payload := base64.StdEncoding.EncodeToString([]byte("forged"))

	refused := []struct{ op, body string }{
		{ipc.OpAppendMessage, `{"streamName":"NucleusStatus","payload":"` + payload + `"}`},
		{ipc.OpDeleteMessageStream, `{"streamName":"NucleusStatus"}`},
		{ipc.OpUpdateMessageStream, `{"definition":{"name":"NucleusStatus","maxSize":1024,"strategyOnFull":"RejectNewData"}}`},
		{ipc.OpCreateMessageStream, `{"definition":{"name":"NucleusStatus","maxSize":1024,"strategyOnFull":"RejectNewData"}}`},
	}
	for _, tt := range refused {
		t.Run(tt.op, func(t *testing.T) {
			_, err := h.Handle(ctx, tt.op, []byte(tt.body))
			if got := wantCode(t, err, ipc.CodeUnauthorized); !strings.Contains(got.Message, `stream "NucleusStatus"`) {
				t.Errorf("message %q does not name the stream", got.Message)
			}
		})
	}
	if _, err := h.Handle(ctx, ipc.OpReadMessages, []byte(`{"streamName":"NucleusStatus","readMessagesOptions":{"desiredStartSequenceNumber":0,"minMessageCount":1}}`)); err != nil {
		t.Fatalf("components read the reserved stream: %v", err)
	}
	info, err := e.m.Describe(ctx, "NucleusStatus")
	if err != nil || info.Definition.MaxSize != 4096 || info.StorageStatus.NewestSequenceNumber != 1 {
		t.Fatalf("the reserved stream changed: %+v, %v", info, err)
	}
	// The nucleus itself still writes it, and other streams stay writable.
	mustAppend(t, e.m, "NucleusStatus", []byte("second record"))
	if _, err := h.Handle(ctx, ipc.OpCreateMessageStream, []byte(`{"definition":{"name":"Mine","maxSize":1024,"strategyOnFull":"RejectNewData"}}`)); err != nil {
		t.Fatalf("create an unreserved stream: %v", err)
	}
}
