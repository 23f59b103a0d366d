package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	dptypes "github.com/aws/aws-sdk-go-v2/service/iotdataplane/types"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/test/harness"
)

// The AWS IoT Device SDK v2 for JavaScript (aws-iot-device-sdk-v2, pinned in
// package.json, on aws-crt's prebuilt native client) against devcloud: the
// scripts in test/devicesdk build the SDK's MQTT 3.1.1 connection and its
// classic shadow and jobs clients as the SDK's classic samples do, and
// mqtt5.js the MQTT 5 client with the request-response service clients the
// newer samples default to; each changes only the endpoint, the port and
// the CA file.
// Each prints what happens as JSON lines; the tests answer some of them
// (publishing, creating a job, setting desired) and check devcloud's side.

// sdkScript is a running test/devicesdk script.
type sdkScript struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan map[string]any
	stderr *testlog.Buffer
	done   chan error
}

// runDeviceSDK starts `node test/devicesdk/<script>` with the thing's files,
// the host and port of addr, and extra --name value arguments.
func runDeviceSDK(t *testing.T, script, addr string, f thingFiles, extra ...string) *sdkScript {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: the Device SDK tests need Node.js 20 (as `npx cdk` does): %v", err)
	}
	root := harness.RepoRoot()
	if _, err := os.Stat(filepath.Join(root, "node_modules", "aws-iot-device-sdk-v2", "package.json")); err != nil {
		t.Fatalf("aws-iot-device-sdk-v2 is not installed (%v): `make test` runs `npm ci` first; by hand, run `npm ci` at the repository root", err)
	}
	host, port, _ := strings.Cut(addr, ":")
	args := append([]string{filepath.Join(root, "test", "devicesdk", script),
		"--endpoint", host, "--port", port, "--thing", f.ThingName,
		"--cert", f.CertificateFilePath, "--key", f.PrivateKeyPath, "--ca", f.RootCaPath}, extra...)
	s := &sdkScript{t: t, name: script, cmd: exec.Command(node, args...), lines: make(chan map[string]any, 64), stderr: &testlog.Buffer{}, done: make(chan error, 1)}
	s.cmd.Dir = root
	s.cmd.Stderr = s.stderr
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("%s: %s", script, sc.Bytes())
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				line = map[string]any{"event": "not-json", "text": sc.Text()}
			}
			s.lines <- line
		}
		close(s.lines)
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
	})
	return s
}

// next returns the script's next line, which must be the event want.
func (s *sdkScript) next(want string) map[string]any {
	s.t.Helper()
	line := testutil.Receive(s.t, s.lines, s.name+": "+want) // nil once the script has exited
	if line["event"] != want {
		s.t.Fatalf("%s printed %v, want the %q event\nstderr: %s", s.name, line, want, s.stderr.String())
	}
	return line
}

// answer tells a script waiting on stdin to go on.
func (s *sdkScript) answer() {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, "go\n"); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for the script to exit 0 after its last line.
func (s *sdkScript) wait() {
	s.t.Helper()
	if line, more := <-s.lines; more {
		s.t.Fatalf("%s printed %v after its last expected line", s.name, line)
	}
	if err := testutil.Receive(s.t, s.done, s.name+" exit"); err != nil {
		s.t.Fatalf("%s: %v\nstderr: %s", s.name, err, s.stderr.String())
	}
}

// field walks a decoded JSON document along keys.
func field(doc any, keys ...string) any {
	for _, k := range keys {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

func TestDevcloudDeviceSDKConnectsAndPublishesAndSubscribesOnBothPorts(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	createThing(t, d, "dev2")
	data := iotdataplane.NewFromConfig(d.Info.AWSConfig(), func(o *iotdataplane.Options) {
		o.BaseEndpoint = aws.String(d.Info.Endpoints.IoTDataHTTP)
	})
	// The SDK's mTLS builder offers ALPN x-amzn-mqtt-ca on its own, so the
	// 443 stand-in needs nothing but its port.
	for _, port := range []struct{ name, addr string }{
		{"8883 stand-in", d.Info.Endpoints.IoTData},
		{"443 stand-in (ALPN)", d.Info.Endpoints.IoTDataALPN},
	} {
		t.Run(port.name, func(t *testing.T) {
			s := runDeviceSDK(t, "pubsub.js", port.addr, dev1, "--wrong-client-id", "dev2", "--other-thing", "dev2", "--oversize", fmt.Sprint(200*1024))
			if got := s.next("connect"); got["clientId"] != "dev2" || got["ok"] != false {
				t.Errorf("connect with dev1's certificate as client dev2: %v, want refused", got)
			}
			if got := s.next("connect"); got["clientId"] != "dev1" || got["ok"] != true {
				t.Fatalf("connect as dev1: %v", got)
			}
			if got := s.next("suback"); got["topic"] != "sward/dev1/alerts" || got["qos"] != 1.0 {
				t.Errorf("SUBACK for the thing's alerts: %v, want QoS 1", got)
			}
			if got := s.next("suback"); got["topic"] != "sward/dev2/alerts" || got["qos"] != 128.0 {
				t.Errorf("SUBACK for another thing's alerts: %v, want failure 128 (0x80)", got)
			}
			s.next("subscribed")
			alert := `{"stream":"temp","via":"` + port.name + `"}`
			if _, err := data.Publish(context.Background(), &iotdataplane.PublishInput{Topic: aws.String("sward/dev1/alerts"), Qos: 1, Payload: []byte(alert)}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if got := s.next("message"); got["topic"] != "sward/dev1/alerts" || got["payload"] != alert {
				t.Errorf("the SDK received %v, want %s on sward/dev1/alerts", got, alert)
			}
			s.next("puback")
			if got := s.next("interrupt"); got["bytes"] != float64(200*1024) {
				t.Errorf("interrupt: %v", got)
			}
			s.wait()
		})
	}
	if d.Exited() {
		t.Fatalf("devcloud exited:\n%s", d.Output())
	}
}

func TestDevcloudDeviceSDKShadowClientAsTheShadowSampleUsesIt(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	ctx := context.Background()
	data := iotdataplane.NewFromConfig(d.Info.AWSConfig(), func(o *iotdataplane.Options) {
		o.BaseEndpoint = aws.String(d.Info.Endpoints.IoTDataHTTP)
	})
	s := runDeviceSDK(t, "shadow.js", d.Info.Endpoints.IoTData, dev1, "--shadow-name", "cfg")

	got := s.next("update")
	if got["accepted"] != true || field(got, "response", "state", "reported", "color") != "red" || field(got, "response", "version") != 1.0 {
		t.Errorf("UpdateShadow reported red: %v, want accepted at version 1", got)
	}
	if got := s.next("get"); got["accepted"] != true || field(got, "response", "state", "reported", "color") != "red" {
		t.Errorf("GetShadow: %v, want reported red", got)
	}
	s.next("waiting-delta")
	if _, err := data.UpdateThingShadow(ctx, &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("dev1"), Payload: []byte(`{"state":{"desired":{"color":"blue"}}}`)}); err != nil {
		t.Fatalf("UpdateThingShadow desired blue: %v", err)
	}
	if got := s.next("delta"); field(got, "response", "state", "color") != "blue" || field(got, "response", "version") != 2.0 {
		t.Errorf("delta event: %v, want color blue at version 2", got)
	}
	if got := s.next("update"); got["accepted"] != true || field(got, "response", "version") != 3.0 {
		t.Errorf("the report of the delta: %v, want accepted at version 3", got)
	}
	s.next("reported-delta")
	out, err := data.GetThingShadow(ctx, &iotdataplane.GetThingShadowInput{ThingName: aws.String("dev1")})
	if err != nil {
		t.Fatalf("GetThingShadow: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	if field(doc, "state", "reported", "color") != "blue" || field(doc, "state", "delta") != nil || doc["version"] != 3.0 {
		t.Errorf("GetThingShadow after the device reported: %s, want reported blue, no delta, version 3", out.Payload)
	}
	s.answer()

	if got := s.next("update"); got["accepted"] != false || field(got, "response", "code") != 409.0 || field(got, "response", "message") != "Version conflict" {
		t.Errorf("UpdateShadow with the stale version 1: %v, want rejected 409 Version conflict", got)
	}
	if got := s.next("named-update"); got["accepted"] != true || field(got, "response", "version") != 1.0 {
		t.Errorf("UpdateNamedShadow: %v, want accepted at version 1", got)
	}
	if got := s.next("named-delta"); field(got, "response", "state", "rate") != 5.0 {
		t.Errorf("named shadow delta event: %v, want rate 5", got)
	}
	if got := s.next("named-get"); got["accepted"] != true || field(got, "response", "state", "delta", "rate") != 5.0 {
		t.Errorf("GetNamedShadow: %v, want the document with its delta", got)
	}
	if got := s.next("named-delete"); got["accepted"] != true {
		t.Errorf("DeleteNamedShadow: %v, want accepted", got)
	}
	if got := s.next("delete"); got["accepted"] != true || field(got, "response", "version") != 3.0 {
		t.Errorf("DeleteShadow: %v, want accepted with the last version 3", got)
	}
	if got := s.next("get"); got["accepted"] != false || field(got, "response", "code") != 404.0 {
		t.Errorf("GetShadow after DeleteShadow: %v, want rejected 404", got)
	}
	s.wait()

	var missing *dptypes.ResourceNotFoundException
	if _, err := data.GetThingShadow(ctx, &iotdataplane.GetThingShadowInput{ThingName: aws.String("dev1")}); !errors.As(err, &missing) {
		t.Errorf("GetThingShadow after the SDK deleted it: err = %v, want ResourceNotFoundException", err)
	}
	list, err := data.ListNamedShadowsForThing(ctx, &iotdataplane.ListNamedShadowsForThingInput{ThingName: aws.String("dev1")})
	if err != nil || len(list.Results) != 0 {
		t.Errorf("named shadows after the SDK deleted cfg: %v, %v; want none", list, err)
	}
}

func TestDevcloudDeviceSDKJobsClientTakesAJobToSucceeded(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1", "--group", "sward-devices")
	ctx := context.Background()
	client := iot.NewFromConfig(d.Info.IoTConfig())
	group, err := client.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String("sward-devices")})
	if err != nil {
		t.Fatal(err)
	}
	s := runDeviceSDK(t, "jobs.js", d.Info.Endpoints.IoTData, dev1)
	s.next("subscribed")
	if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("sdk-release"), Targets: []string{aws.ToString(group.ThingGroupArn)},
		Document: aws.String(`{"deploymentId":"sdk-release"}`), TargetSelection: iottypes.TargetSelectionContinuous}); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}

	got := s.next("next-changed")
	if field(got, "response", "execution", "jobId") != "sdk-release" || field(got, "response", "execution", "status") != "QUEUED" ||
		field(got, "response", "execution", "jobDocument", "deploymentId") != "sdk-release" {
		t.Errorf("NextJobExecutionChanged: %v, want sdk-release QUEUED with its document", got)
	}
	got = s.next("start-next")
	if got["accepted"] != true || field(got, "response", "execution", "status") != "IN_PROGRESS" || field(got, "response", "execution", "versionNumber") != 2.0 {
		t.Errorf("StartNextPendingJobExecution: %v, want accepted IN_PROGRESS at version 2", got)
	}
	if got := s.next("update"); got["accepted"] != true || field(got, "response", "executionState", "status") != "SUCCEEDED" {
		t.Errorf("UpdateJobExecution SUCCEEDED: %v, want accepted with the execution state", got)
	}
	if got := s.next("update"); got["accepted"] != false || field(got, "response", "code") != "InvalidStateTransition" ||
		field(got, "response", "executionState", "status") != "SUCCEEDED" {
		t.Errorf("UpdateJobExecution back to IN_PROGRESS: %v, want rejected InvalidStateTransition with the SUCCEEDED state", got)
	}
	if got := s.next("next-changed"); field(got, "response", "execution") != nil {
		t.Errorf("NextJobExecutionChanged after the job ended: %v, want no execution", got)
	}
	s.wait()

	out, err := client.DescribeJobExecution(ctx, &iot.DescribeJobExecutionInput{JobId: aws.String("sdk-release"), ThingName: aws.String("dev1")})
	if err != nil {
		t.Fatal(err)
	}
	if e := out.Execution; e.Status != iottypes.JobExecutionStatusSucceeded || e.StatusDetails == nil || e.StatusDetails.DetailsMap["step"] != "done" {
		t.Errorf("DescribeJobExecution: %+v, want SUCCEEDED with the SDK's statusDetails step=done", e)
	}
}

// TestDevcloudDeviceSDKMQTT5ServiceClients runs what the SDK's newer
// samples default to: the MQTT 5 client and the request-response service
// clients (IotShadowClientv2, IotJobsClientv2) on it.
func TestDevcloudDeviceSDKMQTT5ServiceClients(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	ctx := context.Background()
	s := runDeviceSDK(t, "mqtt5.js", d.Info.Endpoints.IoTData, dev1)
	if got := s.next("connect"); got["ok"] != true {
		t.Fatalf("MQTT 5 connect: %v", got)
	}
	if got := s.next("delta-stream"); got["established"] != true {
		t.Fatalf("shadow delta stream: %v", got)
	}
	if got := s.next("update"); got["accepted"] != true || field(got, "response", "version") != 1.0 {
		t.Errorf("UpdateShadow: %v, want accepted at version 1", got)
	}
	if got := s.next("delta"); field(got, "message", "state", "color") != "green" {
		t.Errorf("delta event: %v, want color green", got)
	}
	if got := s.next("update"); got["accepted"] != true || field(got, "response", "version") != 2.0 {
		t.Errorf("the report of the delta: %v, want accepted at version 2", got)
	}
	if got := s.next("get"); got["accepted"] != true || field(got, "response", "state", "reported", "color") != "green" || field(got, "response", "state", "delta") != nil {
		t.Errorf("GetShadow: %v, want reported green and no delta", got)
	}
	if got := s.next("update"); got["accepted"] != false || field(got, "modeledError", "code") != 409.0 {
		t.Errorf("UpdateShadow with the stale version 1: %v, want AWS's 409 error document", got)
	}
	if got := s.next("delete"); got["accepted"] != true {
		t.Errorf("DeleteShadow: %v", got)
	}
	if got := s.next("get"); got["accepted"] != false || field(got, "modeledError", "code") != 404.0 {
		t.Errorf("GetShadow after DeleteShadow: %v, want AWS's 404 error document", got)
	}
	if got := s.next("next-changed-stream"); got["established"] != true {
		t.Fatalf("NextJobExecutionChanged stream: %v", got)
	}
	s.next("subscribed")
	client := iot.NewFromConfig(d.Info.IoTConfig())
	if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("mqtt5-job"), Targets: []string{"arn:aws:iot:us-east-1:123456789012:thing/dev1"},
		Document: aws.String(`{"by":"mqtt5"}`)}); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if got := s.next("next-changed"); field(got, "message", "execution", "jobId") != "mqtt5-job" || field(got, "message", "execution", "jobDocument", "by") != "mqtt5" {
		t.Errorf("NextJobExecutionChanged: %v, want mqtt5-job with its document", got)
	}
	if got := s.next("start-next"); got["accepted"] != true || field(got, "response", "execution", "status") != "IN_PROGRESS" {
		t.Errorf("StartNextPendingJobExecution: %v, want IN_PROGRESS", got)
	}
	if got := s.next("update-job"); got["accepted"] != true {
		t.Errorf("UpdateJobExecution SUCCEEDED: %v", got)
	}
	if got := s.next("next-changed"); field(got, "message", "execution") != nil {
		t.Errorf("NextJobExecutionChanged after the job ended: %v, want no execution", got)
	}
	s.wait()
	if st := executionStatus(t, client, "mqtt5-job", "dev1"); st != iottypes.JobExecutionStatusSucceeded {
		t.Errorf("DescribeJobExecution = %s, want SUCCEEDED", st)
	}
}
