package stream

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

func TestJetStreamNamesAreValidAndDistinct(t *testing.T) {
	long := strings.Repeat("a", MaxNameLength)
	longDots := strings.Repeat(".", MaxNameLength)
	names := []string{
		"a", "A", "sensor data", "sensor_data", "sensor__data", "sensor.data", "sensor,data",
		"sensor-data", "a_s", "a s", "_", "__", " ", ".", long, long[:254] + "b", longDots,
		longDots[:254] + "_", longDots[:253] + "__",
	}
	seen := map[string]string{}
	for _, n := range names {
		js, subj := JetStreamName(n), Subject(n)
		if len(js) > maxJetStreamName {
			t.Errorf("JetStreamName(%q) is %d characters, over %d", n, len(js), maxJetStreamName)
		}
		if strings.ContainsAny(js, " \t\r\n.*>/\\") {
			t.Errorf("JetStreamName(%q) = %q has characters JetStream refuses", n, js)
		}
		if tok := strings.TrimPrefix(subj, SubjectPrefix); strings.ContainsAny(tok, " .*>") || tok == "" {
			t.Errorf("Subject(%q) = %q: last token is not one plain token", n, subj)
		}
		if prev, dup := seen[js]; dup {
			t.Errorf("JetStreamName(%q) = JetStreamName(%q) = %q", n, prev, js)
		}
		seen[js] = n
	}
	if got := JetStreamName("sensor data.v1"); got != "sward_stream_sensor_sdata_dv1" {
		t.Errorf("JetStreamName(%q) = %q, want the documented encoding", "sensor data.v1", got)
	}
	if got := Subject("a_b"); got != "$SWARD.streamdata.a__b" {
		t.Errorf("Subject(a_b) = %q", got)
	}
}

func TestCreateDescribeListAppend(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "b stream", MaxSize: 1 << 20, StrategyOnFull: ipc.OverwriteOldestData, TimeToLiveMillis: 60_000})
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "a.memory", MaxSize: 1 << 20, StrategyOnFull: ipc.RejectNewData, Persistence: ipc.PersistenceMemory})

	names, _ := e.m.List(ctx)
	if !slices.Equal(names, []string{"a.memory", "b stream"}) {
		t.Fatalf("List = %q, want both streams sorted", names)
	}
	info, err := e.m.Describe(ctx, "b stream")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := ipc.MessageStreamDefinition{Name: "b stream", MaxSize: 1 << 20, StreamSegmentSize: DefaultStreamSegmentSize,
		TimeToLiveMillis: 60_000, StrategyOnFull: ipc.OverwriteOldestData, Persistence: ipc.PersistenceFile}
	if info.Definition != want {
		t.Errorf("Definition = %+v, want %+v (defaults filled in)", info.Definition, want)
	}
	if s := info.StorageStatus; s.OldestSequenceNumber != 1 || s.NewestSequenceNumber != 0 || s.TotalBytes != 0 {
		t.Errorf("empty stream StorageStatus = %+v, want oldest 1, newest 0, 0 bytes", s)
	}

	for i := 1; i <= 3; i++ {
		if seq := mustAppend(t, e.m, "b stream", payloadOf(i)); seq != int64(i) {
			t.Fatalf("append %d returned sequence %d: sequence numbers start at 1 and count up", i, seq)
		}
	}
	if seq := mustAppend(t, e.m, "a.memory", []byte("m")); seq != 1 {
		t.Errorf("first append to a second stream = %d, want 1: streams have their own sequences", seq)
	}
	info, _ = e.m.Describe(ctx, "b stream")
	if s := info.StorageStatus; s.OldestSequenceNumber != 1 || s.NewestSequenceNumber != 3 || s.TotalBytes <= 3*int64(len(payloadOf(1))) {
		t.Errorf("StorageStatus after 3 appends = %+v, want 1..3 and more bytes than the payloads", s)
	}

	err = e.m.Create(ctx, def("b stream"))
	if e := wantCode(t, err, ipc.CodeInvalidArguments); !strings.Contains(e.Message, "already exists") {
		t.Errorf("second Create message %q does not say the stream exists", e.Message)
	}
	_, err = e.m.Append(ctx, "nope", []byte("x"))
	wantCode(t, err, ipc.CodeResourceNotFound)
	_, err = e.m.Describe(ctx, "nope")
	wantCode(t, err, ipc.CodeResourceNotFound)
	_, err = e.m.Append(ctx, "bad/name", []byte("x"))
	wantCode(t, err, ipc.CodeInvalidArguments)
}

// The messages are in JetStream as the exporters expect them: the payload
// as data, no headers, the sequence as the JetStream sequence.
func TestMessagesAreStoredAsDocumented(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "raw", MaxSize: 1 << 20, StrategyOnFull: ipc.RejectNewData})
	mustAppend(t, e.m, "raw", []byte("one"))
	seq := mustAppend(t, e.m, "raw", []byte("two"))
	s, err := e.m.js.Stream(ctx, JetStreamName("raw"))
	if err != nil {
		t.Fatalf("JetStream stream %s: %v", JetStreamName("raw"), err)
	}
	msg, err := s.GetMsg(ctx, uint64(seq))
	if err != nil {
		t.Fatalf("GetMsg(%d): %v", seq, err)
	}
	// Direct get adds Nats-Stream, -Sequence, -Subject and -Time-Stamp; the
	// message itself has no header.
	for _, h := range []string{"Nats-Stream", "Nats-Sequence", "Nats-Subject", "Nats-Time-Stamp"} {
		msg.Header.Del(h)
	}
	if string(msg.Data) != "two" || msg.Subject != Subject("raw") || len(msg.Header) != 0 {
		t.Errorf("stored message = subject %q data %q headers %v, want %q, %q, none", msg.Subject, msg.Data, msg.Header, Subject("raw"), "two")
	}
}

func TestInvalidDefinitionsAreRefusedAndChangeNothing(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	existing := ipc.MessageStreamDefinition{Name: "existing", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData}
	mustCreate(t, e.m, existing)
	before, _ := e.m.Describe(ctx, "existing")

	tests := []struct {
		name    string
		mutate  func(*ipc.MessageStreamDefinition)
		code    string
		message string // a fragment the message must contain
	}{
		{"empty name", func(d *ipc.MessageStreamDefinition) { d.Name = "" }, ipc.CodeInvalidArguments, "definition.name is empty"},
		{"name too long", func(d *ipc.MessageStreamDefinition) { d.Name = strings.Repeat("x", 256) }, ipc.CodeInvalidArguments, "at most 255"},
		{"slash in name", func(d *ipc.MessageStreamDefinition) { d.Name = "a/b" }, ipc.CodeInvalidArguments, "'/'"},
		{"wildcard in name", func(d *ipc.MessageStreamDefinition) { d.Name = "a*" }, ipc.CodeInvalidArguments, "'*'"},
		{"non-ASCII name", func(d *ipc.MessageStreamDefinition) { d.Name = "straße" }, ipc.CodeInvalidArguments, "ASCII"},
		{"maxSize below 1 KiB", func(d *ipc.MessageStreamDefinition) { d.MaxSize = 1023 }, ipc.CodeInvalidArguments, "definition.maxSize 1023"},
		{"negative maxSize", func(d *ipc.MessageStreamDefinition) { d.MaxSize = -1 }, ipc.CodeInvalidArguments, "definition.maxSize -1"},
		{"segment too small", func(d *ipc.MessageStreamDefinition) { d.StreamSegmentSize = 10 }, ipc.CodeInvalidArguments, "definition.streamSegmentSize 10"},
		{"segment too big", func(d *ipc.MessageStreamDefinition) { d.StreamSegmentSize = 1 << 31 }, ipc.CodeInvalidArguments, "definition.streamSegmentSize"},
		{"ttl below a minute", func(d *ipc.MessageStreamDefinition) { d.TimeToLiveMillis = 59_999 }, ipc.CodeInvalidArguments, "definition.timeToLiveMillis 59999"},
		{"ttl too long", func(d *ipc.MessageStreamDefinition) { d.TimeToLiveMillis = MaxTimeToLiveMillis + 1 }, ipc.CodeInvalidArguments, "definition.timeToLiveMillis"},
		{"negative ttl", func(d *ipc.MessageStreamDefinition) { d.TimeToLiveMillis = -5 }, ipc.CodeInvalidArguments, "definition.timeToLiveMillis -5"},
		{"no strategy", func(d *ipc.MessageStreamDefinition) { d.StrategyOnFull = "" }, ipc.CodeInvalidArguments, "definition.strategyOnFull is missing"},
		{"unknown strategy", func(d *ipc.MessageStreamDefinition) { d.StrategyOnFull = "DropAll" }, ipc.CodeInvalidArguments, `"DropAll" is not a strategy`},
		{"unknown persistence", func(d *ipc.MessageStreamDefinition) { d.Persistence = "Disk" }, ipc.CodeInvalidArguments, `"Disk" is not a persistence`},
		{"flushOnWrite on memory", func(d *ipc.MessageStreamDefinition) {
			d.Persistence, d.FlushOnWrite = ipc.PersistenceMemory, true
		}, ipc.CodeInvalidArguments, "flushOnWrite"},
		{"invalid export", func(d *ipc.MessageStreamDefinition) {
			d.ExportDefinition = &ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "h"}, URI: "ftp://x"}}}
		}, ipc.CodeInvalidArguments, "definition.exportDefinition.http[0]"},
		{"export without exporters", func(d *ipc.MessageStreamDefinition) {
			d.ExportDefinition = &ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "h"}, URI: "http://127.0.0.1:1/x"}}}
		}, ipc.CodeInvalidArguments, "runs no exporters"},
		{"maxSize beyond the store", func(d *ipc.MessageStreamDefinition) { d.MaxSize = 1 << 40 }, ipc.CodeService, "does not fit"},
		{"memory maxSize beyond broker memory", func(d *ipc.MessageStreamDefinition) {
			d.Persistence = ipc.PersistenceMemory // the default 256 MiB is over the broker's 64 MiB
		}, ipc.CodeService, "MaxMemory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := def("fresh")
			tt.mutate(&d)
			err := e.m.Create(ctx, d)
			if got := wantCode(t, err, tt.code); !strings.Contains(got.Message, tt.message) {
				t.Errorf("Create message %q does not contain %q", got.Message, tt.message)
			}
			// The same definition as an update of the existing stream.
			d.Name = "existing"
			if strings.Contains(tt.name, "name") || d.Persistence == ipc.PersistenceMemory {
				// Renaming is not an update; persistence cannot change.
				return
			}
			err = e.m.Update(ctx, d)
			if got := wantCode(t, err, tt.code); !strings.Contains(got.Message, tt.message) {
				t.Errorf("Update message %q does not contain %q", got.Message, tt.message)
			}
		})
	}
	names, _ := e.m.List(ctx)
	if !slices.Equal(names, []string{"existing"}) {
		t.Errorf("List after refused creates = %q, want only the existing stream", names)
	}
	after, _ := e.m.Describe(ctx, "existing")
	if after.Definition != before.Definition {
		t.Errorf("refused updates changed the stream: %+v, was %+v", after.Definition, before.Definition)
	}
}

func TestRejectNewDataRefusesAppendsWhenFull(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "small", MaxSize: MinMaxSize, StrategyOnFull: ipc.RejectNewData})
	payload := bytes.Repeat([]byte("r"), 200)
	var stored int64
	var full error
	for i := 0; i < 20 && full == nil; i++ {
		seq, err := e.m.Append(ctx, "small", payload)
		if err != nil {
			full = err
			break
		}
		stored = seq
	}
	if full == nil {
		t.Fatalf("20 appends of 200 B into a 1024 B stream all succeeded")
	}
	if got := wantCode(t, full, ipc.CodeStreamFull); !strings.Contains(got.Message, "RejectNewData") {
		t.Errorf("full message %q does not name the strategy", got.Message)
	}
	if stored < 1 {
		t.Fatalf("no append fitted before the stream was full")
	}
	// Still full, and what was stored is intact and readable from 1.
	_, err := e.m.Append(ctx, "small", payload)
	wantCode(t, err, ipc.CodeStreamFull)
	info, _ := e.m.Describe(ctx, "small")
	if s := info.StorageStatus; s.OldestSequenceNumber != 1 || s.NewestSequenceNumber != stored || s.TotalBytes > MinMaxSize {
		t.Errorf("StorageStatus = %+v, want 1..%d within %d bytes", s, stored, MinMaxSize)
	}
	msgs, err := e.m.Read(ctx, "small", ipc.ReadMessagesOptions{MinMessageCount: stored})
	if err != nil || int64(len(msgs)) != stored || msgs[0].SequenceNumber != 1 {
		t.Fatalf("Read of the %d stored messages = %d messages, %v", stored, len(msgs), err)
	}
	// Room again after raising maxSize.
	d := info.Definition
	d.MaxSize = 4096
	if err := e.m.Update(ctx, d); err != nil {
		t.Fatalf("Update maxSize: %v", err)
	}
	if seq := mustAppend(t, e.m, "small", payload); seq != stored+1 {
		t.Errorf("append after raising maxSize = %d, want %d", seq, stored+1)
	}
}

func TestOverwriteOldestDataDropsTheOldest(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "ring", MaxSize: MinMaxSize, StrategyOnFull: ipc.OverwriteOldestData})
	payload := bytes.Repeat([]byte("o"), 200)
	for i := 1; i <= 20; i++ {
		if seq := mustAppend(t, e.m, "ring", payload); seq != int64(i) {
			t.Fatalf("append %d = sequence %d", i, seq)
		}
	}
	info, _ := e.m.Describe(ctx, "ring")
	s := info.StorageStatus
	if s.NewestSequenceNumber != 20 || s.OldestSequenceNumber <= 1 || s.TotalBytes > MinMaxSize {
		t.Fatalf("StorageStatus = %+v, want newest 20, oldest dropped, within %d bytes", s, MinMaxSize)
	}
	// Reading from before the oldest starts at the oldest.
	msgs, err := e.m.Read(ctx, "ring", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 1, MaxMessageCount: 100})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(msgs) == 0 || msgs[0].SequenceNumber != s.OldestSequenceNumber || msgs[len(msgs)-1].SequenceNumber != 20 {
		t.Errorf("Read from 1 = %d messages starting at %d, want %d..20", len(msgs), msgs[0].SequenceNumber, s.OldestSequenceNumber)
	}
}

func TestReadSemantics(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "r", MaxSize: 1 << 20, StrategyOnFull: ipc.RejectNewData})
	start := time.Now()
	for i := 1; i <= 10; i++ {
		mustAppend(t, e.m, "r", payloadOf(i))
	}
	seqs := func(msgs []ipc.Message) []int64 {
		var s []int64
		for _, m := range msgs {
			s = append(s, m.SequenceNumber)
		}
		return s
	}

	t.Run("defaults read one message from the oldest", func(t *testing.T) {
		msgs, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{})
		if err != nil || !slices.Equal(seqs(msgs), []int64{1}) {
			t.Fatalf("Read = %v, %v; want [1]", seqs(msgs), err)
		}
		m := msgs[0]
		if m.StreamName != "r" || !bytes.Equal(m.Payload, payloadOf(1)) ||
			m.IngestTime < start.Add(-time.Second).UnixMilli() || m.IngestTime > time.Now().UnixMilli()+1000 {
			t.Errorf("message = %+v, want stream r, payload %q, ingest time around now", m, payloadOf(1))
		}
	})
	t.Run("from a sequence, at most max", func(t *testing.T) {
		msgs, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 4, MinMessageCount: 2, MaxMessageCount: 3})
		if err != nil || !slices.Equal(seqs(msgs), []int64{4, 5, 6}) {
			t.Fatalf("Read = %v, %v; want [4 5 6]", seqs(msgs), err)
		}
	})
	t.Run("returns what is there between min and max", func(t *testing.T) {
		msgs, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 9, MinMessageCount: 1, MaxMessageCount: 100})
		if err != nil || !slices.Equal(seqs(msgs), []int64{9, 10}) {
			t.Fatalf("Read = %v, %v; want [9 10]", seqs(msgs), err)
		}
	})
	t.Run("fewer than min without waiting", func(t *testing.T) {
		_, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 9, MinMessageCount: 3})
		if got := wantCode(t, err, ipc.CodeNotEnoughMessages); !strings.Contains(got.Message, "2 of the 3") {
			t.Errorf("message %q does not say how many were found", got.Message)
		}
	})
	t.Run("past the newest without waiting", func(t *testing.T) {
		_, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 11})
		wantCode(t, err, ipc.CodeNotEnoughMessages)
	})
	t.Run("waits the timeout, then not enough", func(t *testing.T) {
		begin := time.Now()
		_, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 11, ReadTimeoutMillis: 200})
		wantCode(t, err, ipc.CodeNotEnoughMessages)
		if waited := time.Since(begin); waited < 200*time.Millisecond {
			t.Errorf("gave up after %s, before the 200 ms timeout", waited)
		}
	})
	t.Run("waits for appends to reach min", func(t *testing.T) {
		type result struct {
			msgs []ipc.Message
			err  error
		}
		done := make(chan result, 1)
		go func() {
			msgs, err := e.m.Read(ctx, "r", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 10, MinMessageCount: 3, MaxMessageCount: 3, ReadTimeoutMillis: waitTimeout.Milliseconds()})
			done <- result{msgs, err}
		}()
		mustAppend(t, e.m, "r", payloadOf(11))
		mustAppend(t, e.m, "r", payloadOf(12))
		mustAppend(t, e.m, "r", payloadOf(13))
		select {
		case r := <-done:
			if r.err != nil || !slices.Equal(seqs(r.msgs), []int64{10, 11, 12}) {
				t.Fatalf("waiting Read = %v, %v; want [10 11 12]", seqs(r.msgs), r.err)
			}
		case <-time.After(waitTimeout + time.Second):
			t.Fatal("waiting Read did not return after the appends")
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []ipc.ReadMessagesOptions{
			{DesiredStartSequenceNumber: -1},
			{MinMessageCount: -1},
			{MinMessageCount: MaxMessageCount + 1},
			{MinMessageCount: 5, MaxMessageCount: 4},
			{ReadTimeoutMillis: -1},
		} {
			_, err := e.m.Read(ctx, "r", o)
			if got := wantCode(t, err, ipc.CodeInvalidArguments); !strings.Contains(got.Message, "readMessagesOptions.") {
				t.Errorf("Read(%+v) message %q does not name the option", o, got.Message)
			}
		}
	})
	t.Run("unknown stream", func(t *testing.T) {
		_, err := e.m.Read(ctx, "nope", ipc.ReadMessagesOptions{})
		wantCode(t, err, ipc.CodeResourceNotFound)
	})
}

func TestReadResponseFitsTheBrokerPayload(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "big", MaxSize: 8 << 20, StrategyOnFull: ipc.RejectNewData})
	payload := bytes.Repeat([]byte("b"), 300<<10)
	for range 5 {
		mustAppend(t, e.m, "big", payload)
	}
	// 300 KiB is 400 KiB of base64: two fit in 1 MiB, three do not.
	msgs, err := e.m.Read(ctx, "big", ipc.ReadMessagesOptions{MinMessageCount: 1, MaxMessageCount: 5})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Read of up to 5 × 300 KiB = %d messages, %v; want the 2 that fit", len(msgs), err)
	}
	_, err = e.m.Read(ctx, "big", ipc.ReadMessagesOptions{MinMessageCount: 3})
	wantCode(t, err, ipc.CodeResponsePayloadTooLarge)

	_, err = e.m.Append(ctx, "big", make([]byte, e.m.MaxPayload()+1))
	wantCode(t, err, ipc.CodeRequestPayloadTooLarge)
}

func TestUpdateAndDelete(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	d := ipc.MessageStreamDefinition{Name: "u", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData}
	mustCreate(t, e.m, d)
	mustAppend(t, e.m, "u", []byte("kept"))

	d.StrategyOnFull, d.TimeToLiveMillis, d.FlushOnWrite = ipc.OverwriteOldestData, 120_000, true
	if err := e.m.Update(ctx, d); err != nil {
		t.Fatalf("Update: %v", err)
	}
	info, _ := e.m.Describe(ctx, "u")
	if info.Definition.StrategyOnFull != ipc.OverwriteOldestData || info.Definition.TimeToLiveMillis != 120_000 || !info.Definition.FlushOnWrite {
		t.Errorf("Definition after update = %+v", info.Definition)
	}
	if info.StorageStatus.NewestSequenceNumber != 1 {
		t.Errorf("update lost messages: %+v", info.StorageStatus)
	}
	if seq := mustAppend(t, e.m, "u", []byte("durable now")); seq != 2 {
		t.Errorf("append after update = %d, want 2", seq)
	}
	d.FlushOnWrite = false
	if err := e.m.Update(ctx, d); err != nil {
		t.Fatalf("Update back: %v", err)
	}

	d.Persistence = ipc.PersistenceMemory
	err := e.m.Update(ctx, d)
	wantCode(t, err, ipc.CodeUpdateNotAllowed)
	err = e.m.Update(ctx, def("missing"))
	wantCode(t, err, ipc.CodeResourceNotFound)

	// A read waiting on the stream ends when it is deleted.
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Read(ctx, "u", ipc.ReadMessagesOptions{DesiredStartSequenceNumber: 100, ReadTimeoutMillis: waitTimeout.Milliseconds()})
		done <- err
	}()
	if err := e.m.Delete(ctx, "u"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	select {
	case err := <-done:
		wantCode(t, err, ipc.CodeResourceNotFound)
	case <-time.After(waitTimeout):
		t.Fatal("a waiting read did not end when its stream was deleted")
	}
	_, err = e.m.Describe(ctx, "u")
	wantCode(t, err, ipc.CodeResourceNotFound)
	err = e.m.Delete(ctx, "u")
	wantCode(t, err, ipc.CodeResourceNotFound)
	// The name is free again, and the new stream starts from 1.
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "u", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData})
	if seq := mustAppend(t, e.m, "u", []byte("x")); seq != 1 {
		t.Errorf("first append to a recreated stream = %d, want 1", seq)
	}
}

func TestStreamsSurviveAManagerRestart(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	d := ipc.MessageStreamDefinition{Name: "kept stream", MaxSize: 8192, StrategyOnFull: ipc.OverwriteOldestData, FlushOnWrite: true, TimeToLiveMillis: 3_600_000}
	mustCreate(t, e.m, d)
	mustAppend(t, e.m, "kept stream", []byte("before"))
	e.m.Shutdown()
	if _, err := e.m.Append(ctx, "kept stream", []byte("x")); err == nil {
		t.Fatal("Append after Shutdown succeeded")
	}

	m2, err := New(Options{Conn: e.nc, JetStreamStoreDir: e.storeDir, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer m2.Shutdown()
	info, err := m2.Describe(ctx, "kept stream")
	if err != nil {
		t.Fatalf("Describe after restart: %v", err)
	}
	if info.Definition.StrategyOnFull != d.StrategyOnFull || !info.Definition.FlushOnWrite || info.Definition.TimeToLiveMillis != d.TimeToLiveMillis {
		t.Errorf("definition after restart = %+v", info.Definition)
	}
	if seq, err := m2.Append(ctx, "kept stream", []byte("after")); err != nil || seq != 2 {
		t.Errorf("Append after restart = %d, %v; want 2", seq, err)
	}
}

// fakeExporter records what the Manager asked of it. It stands in for
// edge/stream/export, whose real exporters have their own tests; here only
// the Manager's calls matter.
type fakeExporter struct {
	spec    ExportSpec
	stopped chan struct{}
}

func (f *fakeExporter) Stop() { close(f.stopped) }
func (f *fakeExporter) Status() []ipc.ExportStatus {
	return []ipc.ExportStatus{{ExportConfigIdentifier: f.spec.Definition.HTTP[0].Identifier}}
}

func TestExportersFollowTheStreamLifecycle(t *testing.T) {
	started := make(chan *fakeExporter, 10)
	factory := func(ctx context.Context, spec ExportSpec) (Exporter, error) {
		if spec.Definition.HTTP[0].Identifier == "fail" {
			return nil, errors.New("exporter refused")
		}
		f := &fakeExporter{spec: spec, stopped: make(chan struct{})}
		started <- f
		return f, nil
	}
	forgotten := make(chan string, 10)
	e := newEnv(t, "", Options{Exporters: factory, ForgetExports: func(_ context.Context, js string) error {
		forgotten <- js
		return nil
	}})
	ctx := context.Background()
	export := func(id string) *ipc.ExportDefinition {
		return &ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: id}, URI: "http://127.0.0.1:9/in"}}}
	}
	d := ipc.MessageStreamDefinition{Name: "exported", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData, ExportDefinition: export("first")}
	mustCreate(t, e.m, d)
	first := <-started
	if first.spec.StreamName != "exported" || first.spec.JetStreamName != JetStreamName("exported") || first.spec.Subject != Subject("exported") || first.spec.JetStream == nil {
		t.Errorf("ExportSpec = %+v", first.spec)
	}
	info, _ := e.m.Describe(ctx, "exported")
	if len(info.ExportStatuses) != 1 || info.ExportStatuses[0].ExportConfigIdentifier != "first" {
		t.Errorf("ExportStatuses = %+v, want the exporter's", info.ExportStatuses)
	}

	d.MaxSize = 8192 // exports unchanged: no restart
	if err := e.m.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.ExportDefinition = export("second")
	if err := e.m.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	second := <-started
	<-first.stopped
	if second.spec.Definition.HTTP[0].Identifier != "second" {
		t.Errorf("restarted exporter got %+v", second.spec.Definition)
	}
	select {
	case f := <-started:
		t.Errorf("an update that kept the exports restarted them: %+v", f.spec.Definition)
	default:
	}

	err := e.m.Create(ctx, ipc.MessageStreamDefinition{Name: "broken", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData, ExportDefinition: export("fail")})
	wantCode(t, err, ipc.CodeService)
	if names, _ := e.m.List(ctx); slices.Contains(names, "broken") {
		t.Errorf("a stream whose exporter failed to start was kept: %q", names)
	}

	if err := e.m.Delete(ctx, "exported"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Delete did not stop the exporter")
	}
	select {
	case js := <-forgotten:
		if js != JetStreamName("exported") {
			t.Errorf("ForgetExports got %q, want %q", js, JetStreamName("exported"))
		}
	default:
		t.Error("Delete left the export progress behind (ForgetExports not called)")
	}
}

func TestConcurrentAppendsGetDistinctSequences(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	for _, d := range []ipc.MessageStreamDefinition{
		{Name: "plain", MaxSize: 4 << 20, StrategyOnFull: ipc.RejectNewData},
		{Name: "durable", MaxSize: 4 << 20, StrategyOnFull: ipc.RejectNewData, FlushOnWrite: true},
	} {
		mustCreate(t, e.m, d)
		const writers, each = 8, 100
		seqs := make(chan int64, writers*each)
		errs := make(chan error, writers)
		for w := range writers {
			go func() {
				for i := range each {
					seq, err := e.m.Append(ctx, d.Name, payloadOf(w*each+i))
					if err != nil {
						errs <- err
						return
					}
					seqs <- seq
				}
				errs <- nil
			}()
		}
		for range writers {
			if err := <-errs; err != nil {
				t.Fatalf("%s: Append: %v", d.Name, err)
			}
		}
		close(seqs)
		seen := map[int64]bool{}
		for s := range seqs {
			if seen[s] || s < 1 || s > writers*each {
				t.Fatalf("%s: sequence %d returned twice or out of 1..%d", d.Name, s, writers*each)
			}
			seen[s] = true
		}
		msgs, err := e.m.Read(ctx, d.Name, ipc.ReadMessagesOptions{MinMessageCount: writers * each})
		if err != nil || len(msgs) != writers*each {
			t.Fatalf("%s: Read all = %d, %v", d.Name, len(msgs), err)
		}
	}
}

// TestRecreatingTheOnlyStreamRightAfterDeletingItSucceeds: nats-server
// removes an account's emptied streams folder in the background after a
// delete, racing the folder a create right after makes.
func TestRecreatingTheOnlyStreamRightAfterDeletingItSucceeds(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	d := ipc.MessageStreamDefinition{Name: "again", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData}
	for i := range 1000 {
		if err := e.m.Create(ctx, d); err != nil {
			t.Fatalf("create %d after deleting the account's only stream: %v", i, err)
		}
		if err := e.m.Delete(ctx, d.Name); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
}

// TestAReadOfAStreamDeletedUnderItIsResourceNotFound: a read that has
// looked the stream up and asks JetStream after Delete removed it gets
// ResourceNotFound, as a read woken by the delete does.
func TestAReadOfAStreamDeletedUnderItIsResourceNotFound(t *testing.T) {
	e := newEnv(t, "", Options{})
	mustCreate(t, e.m, def("gone"))
	mustAppend(t, e.m, "gone", []byte("x"))
	st, lookupErr := e.m.lookup("gone")
	if lookupErr != nil {
		t.Fatal(lookupErr)
	}
	if err := e.m.Delete(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.m.fetch(context.Background(), st, 1, 1, 1<<20, 10)
	wantCode(t, err, ipc.CodeResourceNotFound)
}
