package iotcore

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/spool"
	"github.com/sward-iot/sward/internal/testutil"
)

// Environment of the child of TestKill9WithAFullSpoolDeliversEveryAcknowledgedMessage.
const (
	killChildStore = "SWARD_IOTCORE_KILL_STORE"
	killChildCert  = "SWARD_IOTCORE_KILL_PKI" // cert, key and CA files, joined by ','
)

// The fault: kill -9 of the nucleus with a full spool. The child
// embeds a broker and the service, with the endpoint unreachable, and
// publishes QoS 1 until its RefuseNew spool is full, printing each
// message Publish acknowledged; the test kills it with SIGKILL, then
// starts a broker and the service on the same store with the endpoint
// up: every acknowledged message arrives, in order.
func TestKill9WithAFullSpoolDeliversEveryAcknowledgedMessage(t *testing.T) {
	if dir := os.Getenv(killChildStore); dir != "" {
		runPublishingChild(t, dir, strings.Split(os.Getenv(killChildCert), ","))
		return
	}
	cl := startCloud(t)
	store := filepath.Join(t.TempDir(), "store")
	pki := cl.mosq.PKI
	child := testutil.StartChild(t, "TestKill9WithAFullSpoolDeliversEveryAcknowledgedMessage",
		killChildStore+"="+store, killChildCert+"="+strings.Join([]string{pki.ClientCert, pki.ClientKey, pki.CAFile}, ","))
	acked := 0
	full := false
	for line := range child.Lines {
		if line == "full" {
			full = true
			break
		}
		if n, ok := strings.CutPrefix(line, "acked "); ok {
			if n != strconv.Itoa(acked) {
				t.Fatalf("child printed %q after %d acknowledgements", line, acked)
			}
			acked++
		}
	}
	if !full {
		t.Fatalf("child ended after %d acknowledgements without filling the spool", acked)
	}
	child.Kill(t)

	_, _, js := startJetStream(t, store)
	opts := cl.options(t, js)
	opts.PublishRate = -1
	opts.Spool = spool.Options{MaxBytes: killSpoolBytes, WhenFull: spool.RefuseNew}
	start(t, opts)
	want := map[string]int{killTopic: acked}
	testutil.Until(t, "every acknowledged message at the endpoint", func() bool { return allArrived(cl.watch.received(), want) })
	checkDelivery(t, cl.watch.received(), want)
	t.Logf("%d messages acknowledged before kill -9, all delivered after the restart", acked)
}

const (
	killTopic      = "sward/" + thing + "/telemetry/kill"
	killSpoolBytes = 256 << 10
)

// runPublishingChild fills the spool with the endpoint unreachable, then
// waits to be killed; a timer ends it if the parent is gone.
func runPublishingChild(t *testing.T, store string, files []string) {
	go func() { time.Sleep(60 * time.Second); os.Exit(3) }()
	_, _, js := startJetStream(t, store)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port that refuses: nothing accepts
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := New(Options{ThingName: thing, Endpoint: "127.0.0.1", Port: port, CertFile: files[0], KeyFile: files[1], RootCAFile: files[2],
		JetStream: js, Spool: spool.Options{MaxBytes: killSpoolBytes, WhenFull: spool.RefuseNew}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		err := s.Publish(context.Background(), Message{Topic: killTopic, Payload: []byte(strconv.Itoa(i)), QoS: 1})
		if errors.Is(err, spool.ErrFull) {
			w.WriteString("full\n")
			w.Flush()
			select {}
		}
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString("acked " + strconv.Itoa(i) + "\n")
		w.Flush()
	}
}
