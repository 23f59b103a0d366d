package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

const testUser = "nucleus"

// newBroker is an embedded broker on storeDir (a new folder when empty).
func newBroker(t testing.TB, storeDir string) *broker.Broker {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	o := broker.DefaultOptions()
	o.NATSListen = "127.0.0.1:-1"
	o.MQTTListen = ""
	o.StoreDir = storeDir
	o.Users = []broker.User{{Name: testUser, Password: "test-secret"}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openSpool(t testing.TB, storeDir string, opts Options) *Spool {
	t.Helper()
	nc := testutil.StartBroker(t, newBroker(t, storeDir), testUser)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	opts.JetStream = js
	opts.Logger = testlog.New(t)
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func add(t testing.TB, s *Spool, topic, payload string) uint64 {
	t.Helper()
	seq, err := s.Add(context.Background(), Message{Topic: topic, Payload: []byte(payload), QoS: 1})
	if err != nil {
		t.Fatalf("Add %s: %v", payload, err)
	}
	return seq
}

// readN reads n messages from the spool starting at from.
func readN(t testing.TB, s *Spool, from uint64, n int) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	r, err := s.Reader(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Message
	for len(out) < n {
		m, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func TestMessagesComeOutInOrderWithTheirTopicQoSAndRetainFlag(t *testing.T) {
	s := openSpool(t, "", Options{})
	ctx := context.Background()
	if _, err := s.Add(ctx, Message{Topic: "a/b", Payload: []byte("one"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, Message{Topic: "c", Payload: []byte("two"), QoS: 0}); err != nil {
		t.Fatal(err)
	}
	got := readN(t, s, 0, 2)
	if got[0].Topic != "a/b" || string(got[0].Payload) != "one" || got[0].QoS != 1 || !got[0].Retain || got[0].Seq != 1 {
		t.Errorf("first = %+v, want a/b one QoS1 retained seq 1", got[0])
	}
	if got[1].Topic != "c" || string(got[1].Payload) != "two" || got[1].QoS != 0 || got[1].Retain || got[1].Seq != 2 {
		t.Errorf("second = %+v, want c two QoS0 seq 2", got[1])
	}
}

func TestRemoveDeletesTheAcknowledgedPrefixOnly(t *testing.T) {
	s := openSpool(t, "", Options{})
	for i := range 5 {
		add(t, s, "t", fmt.Sprint(i))
	}
	if err := s.Remove(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 || st.First != 4 || st.Last != 5 {
		t.Fatalf("after Remove(3): %+v, want messages 4 and 5 left", st)
	}
	if got := readN(t, s, 0, 1); got[0].Seq != 4 || string(got[0].Payload) != "3" {
		t.Errorf("first left = %+v, want seq 4", got[0])
	}
}

func TestAFullSpoolDropsTheOldestByDefault(t *testing.T) {
	s := openSpool(t, "", Options{MaxBytes: 4096})
	payload := strings.Repeat("x", 200)
	var last uint64
	for range 100 { // 100 × ~260 B: six times the bound
		last = add(t, s, "t", payload)
	}
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes > 4096 || st.Messages == 0 || st.Last != last || st.First == 1 {
		t.Fatalf("stats %+v: want at most 4096 bytes holding the newest messages up to %d", st, last)
	}
}

func TestAFullRefuseNewSpoolRefusesWithErrFullAndKeepsWhatItHas(t *testing.T) {
	s := openSpool(t, "", Options{MaxBytes: 4096, WhenFull: RefuseNew})
	payload := strings.Repeat("x", 200)
	var err error
	n := 0
	for ; n < 100; n++ {
		if _, err = s.Add(context.Background(), Message{Topic: "t", Payload: []byte(payload), QoS: 1}); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("add #%d: %v, want ErrFull", n, err)
	}
	if !strings.Contains(err.Error(), "spooler.maxSizeInBytes") {
		t.Errorf("error %q does not say which setting to raise", err)
	}
	st, _ := s.Stats(context.Background())
	if st.First != 1 || st.Messages != uint64(n) {
		t.Errorf("stats %+v: want the first %d messages kept", st, n)
	}
}

func TestBadOptionsAreRefusedNamingTheSetting(t *testing.T) {
	nc := testutil.StartBroker(t, newBroker(t, ""), testUser)
	js, _ := jetstream.New(nc)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no JetStream", Options{}, "JetStream is required"},
		{"negative size", Options{JetStream: js, MaxBytes: -1}, "maxSizeInBytes"},
		{"unknown policy", Options{JetStream: js, WhenFull: "Shuffle"}, `"Shuffle" is unknown`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// killChildEnv, when set, makes TestKill9KeepsEveryAddedMessage the
// adding child: its value is the store folder.
const killChildEnv = "SWARD_SPOOL_KILL_CHILD"

// Every message Add acknowledged before a kill -9 of the process that
// holds the broker is in the spool after a restart, in order. The child
// embeds a broker, fills the spool and prints each acknowledged sequence
// number; the test kills it mid-stream and reopens the store.
func TestKill9KeepsEveryAddedMessage(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		runAddingChild(t, dir)
		return
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	child := testutil.StartChild(t, "TestKill9KeepsEveryAddedMessage", killChildEnv+"="+storeDir)
	acked := map[uint64]string{}
	record := func(line string) {
		if seq, payload, ok := strings.Cut(line, " "); ok {
			if n, err := strconv.ParseUint(seq, 10, 64); err == nil {
				acked[n] = payload
			}
		}
	}
	for line := range child.Lines {
		if record(line); len(acked) >= 2000 {
			break
		}
	}
	if len(acked) < 2000 {
		t.Fatalf("child acknowledged only %d messages", len(acked))
	}
	child.Kill(t)
	for line := range child.Lines {
		record(line) // acknowledged before the kill landed
	}

	s := openSpool(t, storeDir, Options{MaxBytes: 64 << 20})
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := readN(t, s, 0, int(st.Messages))
	stored := map[uint64]string{}
	for i, m := range got {
		if i > 0 && m.Seq <= got[i-1].Seq {
			t.Fatalf("out of order after restart: %d after %d", m.Seq, got[i-1].Seq)
		}
		stored[m.Seq] = string(m.Payload)
	}
	for seq, payload := range acked {
		if stored[seq] != payload {
			t.Fatalf("acknowledged message %d (%s) is %q after kill -9", seq, payload, stored[seq])
		}
	}
	t.Logf("%d acknowledged before kill -9, %d stored after", len(acked), len(stored))
}

// runAddingChild adds messages until it is killed; a timer ends it if the
// parent is gone.
func runAddingChild(t *testing.T, storeDir string) {
	go func() { time.Sleep(60 * time.Second); os.Exit(3) }()
	b := newBroker(t, storeDir)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(testutil.WaitTimeout); err != nil {
		t.Fatal(err)
	}
	nc, err := b.Connect(testUser)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	s, err := Open(context.Background(), Options{JetStream: js, MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		payload := fmt.Sprintf("m%d", i)
		seq, err := s.Add(context.Background(), Message{Topic: "t", Payload: []byte(payload), QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "%d %s\n", seq, payload)
		w.Flush()
	}
}
