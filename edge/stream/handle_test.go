package stream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/shared/ipc"
)

func TestHandleRefusesMalformedRequestsAndChangesNothing(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "s", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData})
	before, _ := e.m.Describe(ctx, "s")

	tests := []struct {
		name, op, body string
		code           string
		message        string
	}{
		{"malformed JSON", ipc.OpCreateMessageStream, `{"definition":{"name":"x",}}`, ipc.CodeInvalidArguments, "malformed JSON at byte"},
		{"truncated JSON", ipc.OpCreateMessageStream, `{"definition":{"name":"x"`, ipc.CodeInvalidArguments, "ends early"},
		{"not an object", ipc.OpAppendMessage, `[1,2]`, ipc.CodeInvalidArguments, "send a JSON object"},
		{"unknown field", ipc.OpCreateMessageStream, `{"definition":{"name":"x","strategyOnFull":"RejectNewData","maxsize":5000}}`, ipc.CodeInvalidArguments, `unknown field "definition.maxsize": the field is "definition.maxSize"`},
		{"unknown nested field", ipc.OpReadMessages, `{"streamName":"s","readMessagesOptions":{"timeout":5}}`, ipc.CodeInvalidArguments, `unknown field "readMessagesOptions.timeout"`},
		{"repeated key", ipc.OpDeleteMessageStream, `{"streamName":"s","streamName":"t"}`, ipc.CodeInvalidArguments, `field "streamName" is given twice`},
		{"unknown top-level field", ipc.OpDeleteMessageStream, `{"stream":"s"}`, ipc.CodeInvalidArguments, `unknown field "stream"`},
		{"string for a number", ipc.OpUpdateMessageStream, `{"definition":{"name":"s","strategyOnFull":"RejectNewData","maxSize":"big"}}`, ipc.CodeInvalidArguments, "definition.maxSize is a JSON string: it must be an integer"},
		{"fraction for a number", ipc.OpUpdateMessageStream, `{"definition":{"name":"s","strategyOnFull":"RejectNewData","maxSize":4096.5}}`, ipc.CodeInvalidArguments, "definition.maxSize"},
		{"number for a strategy", ipc.OpUpdateMessageStream, `{"definition":{"name":"s","strategyOnFull":1}}`, ipc.CodeInvalidArguments, "definition.strategyOnFull is a JSON number: it must be a string"},
		{"string for a bool", ipc.OpUpdateMessageStream, `{"definition":{"name":"s","strategyOnFull":"RejectNewData","flushOnWrite":"yes"}}`, ipc.CodeInvalidArguments, "definition.flushOnWrite is a JSON string: it must be true or false"},
		{"bad base64 payload", ipc.OpAppendMessage, `{"streamName":"s","payload":"!!!"}`, ipc.CodeInvalidArguments, "not valid base64"},
		{"number for a payload", ipc.OpAppendMessage, `{"streamName":"s","payload":5}`, ipc.CodeInvalidArguments, "payload is a JSON number: it must be a base64 string"},
		{"trailing data", ipc.OpDeleteMessageStream, `{"streamName":"s"} {"streamName":"s"}`, ipc.CodeInvalidArguments, "data after the JSON object"},
		{"string for read options", ipc.OpReadMessages, `{"streamName":"s","readMessagesOptions":"all"}`, ipc.CodeInvalidArguments, "readMessagesOptions is a JSON string: it must be an object"},
		{"embedded export fields decode", ipc.OpCreateMessageStream, `{"definition":{"name":"x","strategyOnFull":"RejectNewData","exportDefinition":{"http":[{"identifier":"h","batchSize":10,"uri":"http://127.0.0.1:9/in"}]}}}`, ipc.CodeInvalidArguments, "runs no exporters"},
		{"misspelt export field", ipc.OpCreateMessageStream, `{"definition":{"name":"x","strategyOnFull":"RejectNewData","exportDefinition":{"http":[{"identifier":"h","URI":"http://127.0.0.1:9/in"}]}}}`, ipc.CodeInvalidArguments, `"definition.exportDefinition.http[0].URI": the field is "definition.exportDefinition.http[0].uri"`},
		{"unknown operation", "PutRecord", `{}`, ipc.CodeUnsupportedOperation, "not a stream manager operation"},
		{"invalid definition", ipc.OpUpdateMessageStream, `{"definition":{"name":"s","strategyOnFull":"RejectNewData","timeToLiveMillis":1000}}`, ipc.CodeInvalidArguments, "definition.timeToLiveMillis 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.Handle(ctx, tt.op, []byte(tt.body))
			if got := wantCode(t, err, tt.code); !strings.Contains(got.Message, tt.message) {
				t.Errorf("message %q does not contain %q", got.Message, tt.message)
			}
		})
	}
	after, _ := e.m.Describe(ctx, "s")
	if after.Definition != before.Definition || after.StorageStatus != before.StorageStatus {
		t.Errorf("refused requests changed the stream: %+v, was %+v", after, before)
	}
	if names, _ := e.m.List(ctx); !slices.Equal(names, []string{"s"}) {
		t.Errorf("List = %q, want only s", names)
	}
}

func TestHandleRoundTrip(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	call := func(op string, req, resp any) {
		t.Helper()
		body, _ := json.Marshal(req)
		out, err := e.m.Handle(ctx, op, body)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if resp != nil {
			if err := json.Unmarshal(out, resp); err != nil {
				t.Fatalf("%s response %s: %v", op, out, err)
			}
		}
	}
	call(ipc.OpCreateMessageStream, ipc.CreateMessageStreamRequest{Definition: ipc.MessageStreamDefinition{Name: "h", MaxSize: 4096, StrategyOnFull: ipc.OverwriteOldestData}}, nil)
	var app ipc.AppendMessageResponse
	call(ipc.OpAppendMessage, ipc.AppendMessageRequest{StreamName: "h", Payload: []byte{0, 1, 2, 255}}, &app)
	if app.SequenceNumber != 1 {
		t.Errorf("sequenceNumber = %d, want 1", app.SequenceNumber)
	}
	// The wire form is base64, as Greengrass's SDKs send it.
	raw, err := e.m.Handle(ctx, ipc.OpReadMessages, []byte(`{"streamName":"h","readMessagesOptions":{"minMessageCount":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"payload":"` + base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}) + `"`; !strings.Contains(string(raw), want) {
		t.Errorf("ReadMessages response %s does not carry %s", raw, want)
	}
	var list ipc.ListStreamsResponse
	call(ipc.OpListStreams, struct{}{}, &list)
	if !slices.Equal(list.Streams, []string{"h"}) {
		t.Errorf("ListStreams = %q", list.Streams)
	}
	// An empty body is an empty request.
	if out, err := e.m.Handle(ctx, ipc.OpListStreams, nil); err != nil || !strings.Contains(string(out), `"streams":["h"]`) {
		t.Errorf("ListStreams with no body = %s, %v", out, err)
	}
	var info ipc.MessageStreamInfo
	call(ipc.OpDescribeMessageStream, ipc.DescribeMessageStreamRequest{StreamName: "h"}, &info)
	if info.StorageStatus.NewestSequenceNumber != 1 || info.Definition.Persistence != ipc.PersistenceFile {
		t.Errorf("DescribeMessageStream = %+v", info)
	}
	// Nothing to read returns an error, not an empty list.
	_, err = e.m.Handle(ctx, ipc.OpReadMessages, []byte(`{"streamName":"h","readMessagesOptions":{"desiredStartSequenceNumber":2}}`))
	wantCode(t, err, ipc.CodeNotEnoughMessages)
	call(ipc.OpDeleteMessageStream, ipc.DeleteMessageStreamRequest{StreamName: "h"}, nil)
	call(ipc.OpListStreams, ipc.ListStreamsRequest{}, &list)
	if len(list.Streams) != 0 || list.Streams == nil {
		t.Errorf("ListStreams after delete = %#v, want an empty list", list.Streams)
	}
}

func TestAdminAPIAnswersOverNATS(t *testing.T) {
	e := newEnv(t, "", Options{ServeAdmin: true})
	request := func(op, body string) []byte {
		t.Helper()
		msg, err := e.nc.Request(AdminSubject(op), []byte(body), waitTimeout)
		if err != nil {
			t.Fatalf("request %s: %v", AdminSubject(op), err)
		}
		return msg.Data
	}
	if out := request(ipc.OpCreateMessageStream, `{"definition":{"name":"admin","maxSize":4096,"strategyOnFull":"RejectNewData"}}`); string(out) != `{}` {
		t.Fatalf("create reply = %s, want {}", out)
	}
	if out := request(ipc.OpAppendMessage, `{"streamName":"admin","payload":"aGk="}`); string(out) != `{"sequenceNumber":1}` {
		t.Errorf("append reply = %s", out)
	}
	out := request(ipc.OpCreateMessageStream, `{"definition":{"name":"admin","strategyOnFull":"RejectNewData"}}`)
	if e := ipc.DecodeError(out); e == nil || e.Code != ipc.CodeInvalidArguments || !strings.Contains(e.Message, "already exists") {
		t.Errorf("duplicate create reply = %s, want an InvalidArgumentsError in the error shape", out)
	}
	out = request("Nonsense", `{}`)
	if e := ipc.DecodeError(out); e == nil || e.Code != ipc.CodeUnsupportedOperation {
		t.Errorf("unknown operation reply = %s", out)
	}
	// A waiting read does not hold up other requests.
	done := make(chan []byte, 1)
	go func() {
		msg, err := e.nc.Request(AdminSubject(ipc.OpReadMessages), []byte(`{"streamName":"admin","readMessagesOptions":{"desiredStartSequenceNumber":2,"readTimeoutMillis":10000}}`), waitTimeout)
		if err != nil {
			done <- []byte(err.Error())
			return
		}
		done <- msg.Data
	}()
	testutil.Eventually(t, "second append", func() error {
		request(ipc.OpAppendMessage, `{"streamName":"admin","payload":"dGhlcmU="}`)
		return nil
	})
	select {
	case out := <-done:
		var resp ipc.ReadMessagesResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.Messages) != 1 || string(resp.Messages[0].Payload) != "there" {
			t.Errorf("waiting read reply = %s", out)
		}
	case <-time.After(waitTimeout):
		t.Fatal("waiting read did not answer")
	}
}
