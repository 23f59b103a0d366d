package kvbound

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// fullyReserved returns JetStream on a broker whose 64 MiB store a stream
// reserves entirely but for 1 MiB, as an earlier version allowed.
func fullyReserved(t *testing.T) jetstream.JetStream {
	t.Helper()
	o := broker.DefaultOptions()
	o.NATSListen, o.MQTTListen = "127.0.0.1:-1", ""
	o.StoreDir = filepath.Join(t.TempDir(), "jetstream")
	o.MaxStore = 64 << 20
	o.Users = []broker.User{{Name: "nucleus", Password: "secret"}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "nucleus")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestAnExistingBucketOpensWithoutItsBoundWhenTheStoreHasNoRoomForIt(t *testing.T) {
	js := fullyReserved(t)
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "state"}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "big", Subjects: []string{"big"}, MaxBytes: 63 << 20}); err != nil {
		t.Fatal(err)
	}
	kv, err := Open(ctx, js, jetstream.KeyValueConfig{Bucket: "state", MaxBytes: 8 << 20}, testlog.New(t))
	if err != nil {
		t.Fatalf("open the existing bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put into the opened bucket: %v", err)
	}
	if _, err := Open(ctx, js, jetstream.KeyValueConfig{Bucket: "fresh", MaxBytes: 8 << 20}, testlog.New(t)); err == nil {
		t.Fatal("a new bucket whose bound does not fit was created")
	}
}

func TestABucketGetsItsBoundWhenItFits(t *testing.T) {
	js := fullyReserved(t)
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "state"}); err != nil {
		t.Fatal(err)
	}
	kv, err := Open(ctx, js, jetstream.KeyValueConfig{Bucket: "state", MaxBytes: 8 << 20}, testlog.New(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.MaxBytes; got != 8<<20 {
		t.Fatalf("bucket MaxBytes %d, want %d", got, 8<<20)
	}
}
