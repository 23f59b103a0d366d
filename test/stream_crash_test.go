package test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// streamCall sends a stream manager request on the admin API.
func streamCall(nc *nats.Conn, op string, body any) (map[string]any, error) {
	data, _ := json.Marshal(body)
	m, err := nc.Request("$SWARD.stream."+op, data, 5*time.Second)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(m.Data, &out); err != nil {
		return nil, err
	}
	if e, ok := out["error"]; ok {
		return nil, fmt.Errorf("%v", e)
	}
	return out, nil
}

// Appends acknowledged before a kill -9 of the nucleus are all there after
// the restart, and the S3 export then delivers every message exactly once:
// non-overlapping objects covering the stream.
func TestStreamAppendsAndTheS3ExportSurviveKill9OfTheNucleus(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	defer moto.Stop()
	for _, kv := range moto.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the nucleus inherits them: its exporter talks to moto
	}
	s3c := s3.NewFromConfig(moto.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("exports")}); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	n := harness.StartAt(t, root, "", "")
	nc := n.AdminConn()
	if _, err := streamCall(nc, "CreateMessageStream", map[string]any{"definition": map[string]any{
		"name": "Readings", "strategyOnFull": "RejectNewData", "flushOnWrite": true,
		"exportDefinition": map[string]any{"s3": []any{map[string]any{
			"identifier": "toS3", "bucket": "exports", "batchSize": 40, "batchIntervalMillis": 100}}},
	}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}

	var mu sync.Mutex
	acked := map[int64]string{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			payload := fmt.Sprintf("reading-%d", i)
			out, err := streamCall(nc, "AppendMessage", map[string]any{"streamName": "Readings", "payload": []byte(payload)})
			if err != nil {
				return // the nucleus is gone
			}
			mu.Lock()
			acked[int64(out["sequenceNumber"].(float64))] = payload
			mu.Unlock()
		}
	}()
	harness.Eventually(t, 30*time.Second, "300 acknowledged appends", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 300 {
			return fmt.Errorf("%d so far", len(acked))
		}
		return nil
	})
	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus did not die")
	}
	<-done
	mu.Lock()
	defer mu.Unlock()

	nc2 := harness.StartAt(t, root, "", "").AdminConn()
	out, err := streamCall(nc2, "ReadMessages", map[string]any{"streamName": "Readings", "readMessagesOptions": map[string]any{
		"desiredStartSequenceNumber": 1, "minMessageCount": 1, "maxMessageCount": 100000}})
	if err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	stored := map[int64]string{}
	for _, m := range out["messages"].([]any) {
		msg := m.(map[string]any)
		p, _ := json.Marshal(msg["payload"])
		var b []byte
		_ = json.Unmarshal(p, &b)
		stored[int64(msg["sequenceNumber"].(float64))] = string(b)
	}
	for seq, payload := range acked {
		if stored[seq] != payload {
			t.Errorf("acknowledged append %d (%s) after kill -9: stored %q", seq, payload, stored[seq])
		}
	}
	newest := int64(len(stored))

	harness.Eventually(t, 60*time.Second, "the export covers the stream", func() error {
		list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("exports")})
		if err != nil {
			return err
		}
		type span struct{ first, last int64 }
		var spans []span
		for _, o := range list.Contents {
			base := (*o.Key)[strings.LastIndex(*o.Key, "/")+1:]
			a, b, _ := strings.Cut(strings.TrimSuffix(base, ".jsonl"), "-")
			first, _ := strconv.ParseInt(a, 10, 64)
			last, _ := strconv.ParseInt(b, 10, 64)
			spans = append(spans, span{first, last})
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].first < spans[j].first })
		next := int64(1)
		for _, s := range spans {
			if s.first != next {
				return harness.Permanent(fmt.Errorf("objects overlap or leave a gap at %d: %v", next, spans))
			}
			next = s.last + 1
		}
		if next <= newest {
			return fmt.Errorf("exported up to %d of %d", next-1, newest)
		}
		return nil
	})
}
