package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// The crash tests run the exporter in a child process (this test binary
// re-executed with childEnv set) that embeds its own broker on a store
// folder, so that kill -9 kills the exporter and the broker together, as
// it would kill the nucleus. A second child on the same store folder must
// then finish the export.

// childEnv carries the child's childConfig as JSON.
const childEnv = "SWARD_EXPORT_TEST_CHILD"

type childConfig struct {
	StoreDir   string
	StreamName string
	// Messages is how many messages the stream must hold; the child
	// appends the missing ones before exporting.
	Messages int
	Size     int
	// Definition is the export definition; the child waits until every
	// export has exported Messages, prints DONE and exits 0.
	Definition ipc.ExportDefinition
	// CrashAt "point:n" makes the child kill -9 itself the n-th time the
	// exporter reaches point (see testHook).
	CrashAt string
}

// childMain is the child process. It prints "COMMITTED <last>" per batch,
// "CRASH ..." before killing itself, and "DONE" at the end.
func childMain() int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		fmt.Println("bad child config:", err)
		return 2
	}
	ctx := context.Background()
	js, stop, err := startBroker(cfg.StoreDir, testlog.Child())
	if err != nil {
		fmt.Println("broker:", err)
		return 2
	}
	s, err := ensureStreams(ctx, js, cfg.StreamName)
	if err == nil {
		err = appendMessages(ctx, js, s, cfg.StreamName, cfg.Messages, cfg.Size)
	}
	if err != nil {
		fmt.Println("streams:", err)
		return 2
	}
	point, nth := "", 0
	if cfg.CrashAt != "" {
		p, n, _ := strings.Cut(cfg.CrashAt, ":")
		point = p
		nth, _ = strconv.Atoi(n)
	}
	var hits atomic.Int32
	testHook = func(p string, b *batch) {
		if p == "committed" {
			fmt.Printf("COMMITTED %d\n", b.last)
		}
		if p == point && int(hits.Add(1)) == nth {
			fmt.Printf("CRASH %s %d-%d\n", p, b.first, b.last)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	r, err := Start(ctx, Options{
		JetStream:     js,
		Stream:        jsStreamName(cfg.StreamName),
		StreamName:    cfg.StreamName,
		Definition:    cfg.Definition,
		StatusPublish: statusPublisher(js),
		S3PathStyle:   true, // AWS itself comes from the environment
		Logger:        testlog.Child(),
	})
	if err != nil {
		fmt.Println("start:", err)
		return 2
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		done := true
		for _, st := range r.Status() {
			if st.LastExportedSequenceNumber < int64(cfg.Messages) {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("TIMEOUT %+v\n", r.Status())
			return 3
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	stop()
	fmt.Println("DONE")
	return 0
}

// childRun is the outcome of one child.
type childRun struct {
	output string
	done   bool // printed DONE and exited 0
	killed bool // died of SIGKILL
}

// runChild runs a child with cfg and the AWS environment pointing at
// endpoint. killAfter > 0 makes the parent kill -9 the child once it has
// committed that many batches.
func runChild(t *testing.T, cfg childConfig, endpoint string, killAfter int) childRun {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		childEnv+"="+string(raw),
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(waitTimeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var b strings.Builder
	commits := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		b.WriteString(line + "\n")
		if strings.HasPrefix(line, "COMMITTED ") {
			commits++
			if killAfter > 0 && commits == killAfter {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
	}
	err = cmd.Wait()
	run := childRun{output: b.String()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		run.killed = true
	}
	run.done = err == nil && strings.Contains(run.output, "DONE\n")
	return run
}

// crashThenFinish runs a child that crashes (crashAt or killAfter), then a
// child with restart's definition on the same store, which must finish.
func crashThenFinish(t *testing.T, cfg childConfig, restart ipc.ExportDefinition, endpoint string, killAfter int) {
	t.Helper()
	first := runChild(t, cfg, endpoint, killAfter)
	if !first.killed {
		t.Fatalf("first child was not killed (crash point never reached?):\n%s", first.output)
	}
	cfg.CrashAt = ""
	cfg.Definition = restart
	second := runChild(t, cfg, endpoint, 0)
	if !second.done {
		t.Fatalf("restarted child did not finish the export:\n%s", second.output)
	}
	t.Logf("crashed run:\n%srestarted run:\n%s", first.output, second.output)
}
