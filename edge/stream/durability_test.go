package stream

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// The group commit fsyncs the files JetStream really writes: the payload
// of an acknowledged flushOnWrite append is in the block the syncer holds,
// and the syncer follows JetStream onto new blocks. If a nats-server
// upgrade changes the store layout, this test fails before flushOnWrite
// silently stops meaning anything.
func TestFlushOnWriteFsyncsTheJetStreamBlocks(t *testing.T) {
	e := newEnv(t, "", Options{})
	mustCreate(t, e.m, ipc.MessageStreamDefinition{Name: "fsynced", MaxSize: 100_000, StrategyOnFull: ipc.OverwriteOldestData, FlushOnWrite: true})
	st, _ := e.m.lookup("fsynced")
	if st.sync == nil {
		t.Fatal("a flushOnWrite stream has no syncer")
	}
	want := filepath.Join(e.storeDir, "jetstream", "$G", "streams", JetStreamName("fsynced"), "msgs")
	if st.sync.dir != want {
		t.Errorf("syncer folder = %s, want %s", st.sync.dir, want)
	}
	marker := []byte("durable-marker-7f3a")
	mustAppend(t, e.m, "fsynced", marker)
	// The append returned after its group's fsync: the syncer holds the
	// block it fsync'd, and that block holds the payload.
	if st.sync.last == nil || st.sync.lastIndex < 1 {
		t.Fatalf("after a durable append the syncer holds no block (lastIndex %d)", st.sync.lastIndex)
	}
	data, err := os.ReadFile(st.sync.last.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, marker) {
		t.Fatalf("block %s fsync'd for the append does not contain its payload", st.sync.last.Name())
	}
	// JetStream sizes blocks at a quarter of maxSize (at least 32 kB):
	// 200 kB through this stream rolls over several blocks.
	payload := bytes.Repeat([]byte("f"), 1000)
	for range 200 {
		mustAppend(t, e.m, "fsynced", payload)
	}
	newest := 0
	names, _ := readDirNames(st.sync.dir)
	for _, n := range names {
		if idx, ok := blockIndex(n); ok {
			newest = max(newest, idx)
		}
	}
	if newest < 2 {
		t.Fatalf("JetStream wrote only block %d for 200 kB into a 100 kB stream; the test needs a roll-over", newest)
	}
	if st.sync.lastIndex != newest {
		t.Errorf("syncer is on block %d, JetStream writes block %d", st.sync.lastIndex, newest)
	}

}

// Turning flushOnWrite off and on while appends are in flight neither
// hangs nor fails them, and every acknowledged append is readable.
func TestFlushOnWriteTogglesUnderLoad(t *testing.T) {
	e := newEnv(t, "", Options{})
	ctx := context.Background()
	d := ipc.MessageStreamDefinition{Name: "toggle", MaxSize: 4 << 20, StrategyOnFull: ipc.RejectNewData, FlushOnWrite: true}
	mustCreate(t, e.m, d)
	stop := make(chan struct{})
	type result struct {
		seqs []int64
		err  error
	}
	results := make(chan result, 8)
	for range 8 {
		go func() {
			var r result
			for {
				select {
				case <-stop:
					results <- r
					return
				default:
				}
				seq, err := e.m.Append(ctx, "toggle", []byte("t"))
				if err != nil {
					r.err = err
					results <- r
					return
				}
				r.seqs = append(r.seqs, seq)
			}
		}()
	}
	for i := range 10 {
		d.FlushOnWrite = i%2 == 1
		if err := e.m.Update(ctx, d); err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	close(stop)
	var acked []int64
	for range 8 {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("Append while flushOnWrite changed: %v", r.err)
			}
			acked = append(acked, r.seqs...)
		case <-time.After(waitTimeout):
			t.Fatal("an appender hung while flushOnWrite changed")
		}
	}
	info, _ := e.m.Describe(ctx, "toggle")
	for _, seq := range acked {
		if seq < 1 || seq > info.StorageStatus.NewestSequenceNumber {
			t.Fatalf("acknowledged sequence %d is not in the stream (1..%d)", seq, info.StorageStatus.NewestSequenceNumber)
		}
	}
	if int64(len(acked)) != info.StorageStatus.NewestSequenceNumber {
		t.Errorf("%d appends acknowledged, stream has %d", len(acked), info.StorageStatus.NewestSequenceNumber)
	}
}

func TestFlushOnWriteNeedsTheStoreFolder(t *testing.T) {
	e := newEnv(t, "", Options{})
	m, err := New(Options{Conn: e.nc, Logger: testlog.New(t)}) // no JetStreamStoreDir
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	err = m.Create(context.Background(), ipc.MessageStreamDefinition{Name: "d", MaxSize: 4096, StrategyOnFull: ipc.RejectNewData, FlushOnWrite: true})
	if got := wantCode(t, err, ipc.CodeInvalidArguments); !strings.Contains(got.Message, "JetStreamStoreDir") {
		t.Errorf("message %q does not say what is missing", got.Message)
	}
	if names, _ := m.List(context.Background()); len(names) != 0 {
		t.Errorf("refused stream was kept: %q", names)
	}
}

// killChildEnv, when set, makes TestKill9KeepsAcknowledgedAppends the
// appender child: its value is the store folder.
const killChildEnv = "SWARD_STREAM_KILL_CHILD"

// Every append acknowledged before a kill -9 is there after a restart, on a
// flushOnWrite stream and on a plain File stream alike (kill -9 keeps the
// page cache; power loss is what only flushOnWrite survives, see README).
// The child embeds a broker and a Manager, appends from several goroutines
// and prints each acknowledged sequence; the test kills it mid-stream and
// reopens the store.
func TestKill9KeepsAcknowledgedAppends(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		runAppenderChild(dir)
		return
	}
	storeDir := filepath.Join(t.TempDir(), "jetstream")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9KeepsAcknowledgedAppends$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+storeDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Read acknowledgements until both streams have plenty, then kill.
	type ack struct {
		stream  string
		seq     int64
		payload string
	}
	var acks []ack
	counts := map[string]int{}
	lines := make(chan string, 1024)
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(lines) // a partial last line is dropped: it was never complete
				return
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	deadline := time.After(60 * time.Second)
	parse := func(line string) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("child printed %q, want <stream> <seq> <payload>", line)
		}
		seq, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("child printed %q: %v", line, err)
		}
		acks = append(acks, ack{f[0], seq, f[2]})
		counts[f[0]]++
	}
	for counts["durable"] < 500 || counts["plain"] < 2000 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child exited early after %v acknowledgements", counts)
			}
			parse(line)
		case <-deadline:
			t.Fatalf("child acknowledged only %v within 60 s", counts)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	for line := range lines {
		parse(line) // acknowledged before the kill landed
	}
	_ = cmd.Wait()
	t.Logf("killed the appender after %d durable and %d plain acknowledgements", counts["durable"], counts["plain"])

	e := newEnv(t, storeDir, Options{})
	ctx := context.Background()
	stored := map[string]map[int64]string{}
	for _, name := range []string{"durable", "plain"} {
		info, err := e.m.Describe(ctx, name)
		if err != nil {
			t.Fatalf("Describe %s after the kill: %v", name, err)
		}
		stored[name] = map[int64]string{}
		for next := int64(1); next <= info.StorageStatus.NewestSequenceNumber; {
			msgs, err := e.m.Read(ctx, name, ipc.ReadMessagesOptions{DesiredStartSequenceNumber: next, MaxMessageCount: 10_000})
			if err != nil {
				t.Fatalf("Read %s from %d: %v", name, next, err)
			}
			for _, m := range msgs {
				stored[name][m.SequenceNumber] = string(m.Payload)
			}
			next = msgs[len(msgs)-1].SequenceNumber + 1
		}
	}
	for _, a := range acks {
		got, ok := stored[a.stream][a.seq]
		if !ok {
			t.Fatalf("acknowledged append %s #%d (%s) is missing after kill -9", a.stream, a.seq, a.payload)
		}
		if got != a.payload {
			t.Fatalf("%s #%d = %q after kill -9, acknowledged as %q", a.stream, a.seq, got, a.payload)
		}
	}
}

// runAppenderChild is the child side: it never returns normally; the test
// kills it. A safety timer ends it if the parent is gone.
func runAppenderChild(storeDir string) {
	go func() {
		time.Sleep(90 * time.Second)
		os.Exit(3)
	}()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "appender child:", err)
		os.Exit(2)
	}
	log := testlog.Child() // the child is killed mid-write; its own failures go to stderr through fail
	b, err := newBroker(storeDir, log)
	if err != nil {
		fail(err)
	}
	if _, err := testutil.Serve(b); err != nil {
		fail(err)
	}
	nc, err := b.Connect(testUser)
	if err != nil {
		fail(err)
	}
	m, err := New(Options{Conn: nc, JetStreamStoreDir: storeDir, Logger: log})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		fail(err)
	}
	for _, d := range []ipc.MessageStreamDefinition{
		{Name: "durable", MaxSize: 64 << 20, StrategyOnFull: ipc.RejectNewData, FlushOnWrite: true},
		{Name: "plain", MaxSize: 64 << 20, StrategyOnFull: ipc.RejectNewData},
	} {
		if err := m.Create(ctx, d); err != nil {
			fail(err)
		}
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	print := func(stream string, seq int64, payload string) {
		mu.Lock()
		fmt.Fprintf(w, "%s %d %s\n", stream, seq, payload)
		w.Flush() // each line leaves the process before the next append
		mu.Unlock()
	}
	for _, stream := range []string{"durable", "plain"} {
		for g := range 4 {
			go func() {
				for i := 0; ; i++ {
					p := fmt.Sprintf("%s-%d-%d", stream, g, i)
					seq, err := m.Append(ctx, stream, []byte(p))
					if err != nil {
						fail(err)
					}
					print(stream, seq, p)
				}
			}()
		}
	}
	select {}
}
