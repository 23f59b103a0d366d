package broker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestAStreamThatHitDiskFullIsWritableAgainWhenSpaceReturns(t *testing.T) {
	disk := testutil.SmallDisk(t, 16<<20)
	o := testOptions(t)
	o.MQTTListen = ""
	o.StoreDir = filepath.Join(disk, "store")
	b := runBroker(t, o)
	js, err := jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "data", Subjects: []string{"data"}, MaxBytes: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	filler := testutil.FillDisk(t, disk)
	payload := []byte(strings.Repeat("x", 16<<10))
	var failed error
	for i := 0; i < 2000 && failed == nil; i++ {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, failed = js.Publish(actx, "data", payload)
		cancel()
	}
	if failed == nil {
		t.Fatal("appends never failed on a full disk")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "an append succeeds once the disk has room", func() error {
		// Short attempts: a store that is being reopened answers nothing.
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		_, err := js.Publish(actx, "data", []byte("after"))
		return err
	})
	msg, err := js.Stream(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	last, err := msg.GetLastMsgForSubject(ctx, "data")
	if err != nil || string(last.Data) != "after" {
		t.Fatalf("last message %v, %v: want the append made after recovery", last, err)
	}
}
