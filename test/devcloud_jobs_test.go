package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/infra/devcloud/status"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// jobsDevice is a thing's MQTT client speaking the jobs API: it subscribes
// to notify-next only; the answers to its requests reach it without a
// subscription, as IoT Core sends them.
type jobsDevice struct {
	t      *testing.T
	thing  string
	client mqtt.Client
	got    chan mqtt.Message
}

func connectJobsDevice(t *testing.T, d *harness.Devcloud, f thingFiles) *jobsDevice {
	t.Helper()
	dev := &jobsDevice{t: t, thing: f.ThingName, got: make(chan mqtt.Message, 64)}
	opts := mqtt.NewClientOptions().AddBroker("tls://" + d.Info.Endpoints.IoTData).SetClientID(f.ThingName).SetTLSConfig(deviceTLS(t, f)).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { dev.got <- m })
	dev.client = mqtt.NewClient(opts)
	if tok := dev.client.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", f.ThingName, tok.Error())
	}
	t.Cleanup(func() { dev.client.Disconnect(0) })
	topic := "$aws/things/" + f.ThingName + "/jobs/notify-next"
	if tok := dev.client.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { dev.got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return dev
}

// next waits for a message on the thing's jobs topic suffix and decodes it;
// messages on other topics are a failure.
func (dev *jobsDevice) next(suffix string) map[string]any {
	dev.t.Helper()
	want := "$aws/things/" + dev.thing + "/jobs/" + suffix
	m := testutil.Receive(dev.t, dev.got, want)
	if m.Topic() != want {
		dev.t.Fatalf("received on %s (%s), want %s", m.Topic(), m.Payload(), want)
	}
	var doc map[string]any
	if err := json.Unmarshal(m.Payload(), &doc); err != nil {
		dev.t.Fatalf("%s: %s: %v", m.Topic(), m.Payload(), err)
	}
	return doc
}

// request publishes on the thing's jobs topic suffix and returns the answer
// on suffix/accepted (ok) or suffix/rejected.
func (dev *jobsDevice) request(suffix, payload string) (bool, map[string]any) {
	dev.t.Helper()
	topic := "$aws/things/" + dev.thing + "/jobs/" + suffix
	if tok := dev.client.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		dev.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
	m := testutil.Receive(dev.t, dev.got, "the answer on "+topic)
	var doc map[string]any
	if err := json.Unmarshal(m.Payload(), &doc); err != nil {
		dev.t.Fatalf("%s: %s: %v", m.Topic(), m.Payload(), err)
	}
	switch m.Topic() {
	case topic + "/accepted":
		return true, doc
	case topic + "/rejected":
		return false, doc
	}
	dev.t.Fatalf("received on %s (%s), want the answer to %s", m.Topic(), m.Payload(), topic)
	return false, nil
}

// statusReport is what `devcloud status --json` prints.
func statusReport(t *testing.T, d *harness.Devcloud) status.Report {
	t.Helper()
	out, err := d.Run(t, "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r status.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("status --json printed %s: %v", out, err)
	}
	return r
}

// executionsOf lists the job ids of thing's executions.
func executionsOf(ctx context.Context, client *iot.Client, thing string) ([]string, error) {
	out, err := client.ListJobExecutionsForThing(ctx, &iot.ListJobExecutionsForThingInput{ThingName: aws.String(thing)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range out.ExecutionSummaries {
		ids = append(ids, aws.ToString(s.JobId))
	}
	return ids, nil
}

func executionStatus(t *testing.T, client *iot.Client, job, thing string) iottypes.JobExecutionStatus {
	t.Helper()
	out, err := client.DescribeJobExecution(context.Background(), &iot.DescribeJobExecutionInput{JobId: aws.String(job), ThingName: aws.String(thing)})
	if err != nil {
		t.Fatalf("DescribeJobExecution %s %s: %v", job, thing, err)
	}
	return out.Execution.Status
}

func TestDevcloudJobsTakeADeviceFromCreateJobToSucceededOverMQTT(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1", "--group", "sward-devices")
	dev := connectJobsDevice(t, d, dev1)
	ctx := context.Background()
	// The iot client with only its endpoint changed, as the Lambdas get it.
	client := iot.NewFromConfig(d.Info.IoTConfig())
	group, err := client.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String("sward-devices")})
	if err != nil {
		t.Fatalf("DescribeThingGroup through devcloud's control plane (passed to moto): %v", err)
	}

	// Each round: CreateJob → notify-next at the device → start-next →
	// update SUCCEEDED; the first leg is the figure in docs/performance.md.
	const rounds = 10
	var lat []time.Duration
	for i := range rounds {
		id := "release-" + strconv.Itoa(i)
		start := time.Now()
		if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String(id), Targets: []string{aws.ToString(group.ThingGroupArn)},
			Document: aws.String(`{"deploymentId":"` + id + `"}`), TargetSelection: iottypes.TargetSelectionContinuous}); err != nil {
			t.Fatalf("CreateJob %s: %v", id, err)
		}
		note := dev.next("notify-next")
		lat = append(lat, time.Since(start))
		exec, _ := note["execution"].(map[string]any)
		if exec["jobId"] != id || exec["status"] != "QUEUED" || exec["jobDocument"].(map[string]any)["deploymentId"] != id {
			t.Fatalf("notify-next = %v, want %s QUEUED with its document", note, id)
		}
		ok, got := dev.request("start-next", `{"clientToken":"s`+strconv.Itoa(i)+`","stepTimeoutInMinutes":5}`)
		if !ok || got["execution"].(map[string]any)["status"] != "IN_PROGRESS" || got["clientToken"] != "s"+strconv.Itoa(i) {
			t.Fatalf("start-next = %v %v, want %s IN_PROGRESS", ok, got, id)
		}
		if st := executionStatus(t, client, id, "dev1"); st != iottypes.JobExecutionStatusInProgress {
			t.Fatalf("DescribeJobExecution after start-next = %s, want IN_PROGRESS", st)
		}
		ok, got = dev.request(id+"/update", `{"status":"SUCCEEDED","expectedVersion":2,"includeJobExecutionState":true,"statusDetails":{"detailed-deployment-status":"SUCCESSFUL"}}`)
		if !ok || got["executionState"].(map[string]any)["status"] != "SUCCEEDED" {
			t.Fatalf("update SUCCEEDED = %v %v", ok, got)
		}
		if empty := dev.next("notify-next"); empty["execution"] != nil {
			t.Fatalf("notify-next after the last pending execution ended = %v, want none left", empty)
		}
		if st := executionStatus(t, client, id, "dev1"); st != iottypes.JobExecutionStatusSucceeded {
			t.Fatalf("DescribeJobExecution after the update = %s, want SUCCEEDED", st)
		}
	}
	slices.Sort(lat)
	t.Logf("jobs: CreateJob → notify-next at the device: p50 %.1f ms, max %.1f ms over %d jobs (goal ≤ 200 ms)",
		float64(lat[rounds/2].Microseconds())/1000, float64(lat[rounds-1].Microseconds())/1000, rounds)
	if lat[rounds/2] > 200*time.Millisecond {
		t.Errorf("CreateJob → notify-next p50 = %s, over the 200 ms goal", lat[rounds/2])
	}

	t.Run("bad updates are answered as AWS does and the connection stays", func(t *testing.T) {
		tests := []struct{ name, suffix, payload, code string }{
			{"malformed JSON", "release-0/update", `{"status":"IN_PROGRESS"`, "InvalidJson"},
			{"a succeeded execution moved back", "release-0/update", `{"status":"IN_PROGRESS","clientToken":"b"}`, "InvalidStateTransition"},
			{"a stale expectedVersion", "release-0/update", `{"status":"IN_PROGRESS","expectedVersion":1,"clientToken":"b"}`, "VersionMismatch"},
			{"a job the thing does not have", "no-such-job/update", `{"status":"IN_PROGRESS","clientToken":"b"}`, "ResourceNotFound"},
		}
		for _, tt := range tests {
			ok, got := dev.request(tt.suffix, tt.payload)
			if ok || got["code"] != tt.code {
				t.Errorf("%s: %v %v, want rejected %s", tt.name, ok, got, tt.code)
			}
			if tt.code != "InvalidJson" && got["clientToken"] != "b" {
				t.Errorf("%s: clientToken %v, want b echoed", tt.name, got["clientToken"])
			}
		}
		if !dev.client.IsConnected() || d.Exited() {
			t.Fatalf("after the bad requests: connected %v, devcloud exited %v\n%s", dev.client.IsConnected(), d.Exited(), d.Output())
		}
	})

	t.Run("CancelJob takes the queued execution away from the device", func(t *testing.T) {
		if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("to-cancel"), Targets: []string{aws.ToString(group.ThingGroupArn)}, Document: aws.String(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if note := dev.next("notify-next"); note["execution"].(map[string]any)["jobId"] != "to-cancel" {
			t.Fatalf("notify-next = %v, want to-cancel", note)
		}
		if _, err := client.CancelJob(ctx, &iot.CancelJobInput{JobId: aws.String("to-cancel"), Force: true, Comment: aws.String("test")}); err != nil {
			t.Fatal(err)
		}
		if note := dev.next("notify-next"); note["execution"] != nil {
			t.Errorf("notify-next after CancelJob = %v, want nothing pending", note)
		}
		if st := executionStatus(t, client, "to-cancel", "dev1"); st != iottypes.JobExecutionStatusCanceled {
			t.Errorf("DescribeJobExecution after CancelJob = %s, want CANCELED", st)
		}
		if ok, got := dev.request("to-cancel/update", `{"status":"IN_PROGRESS"}`); ok || got["code"] != "InvalidStateTransition" {
			t.Errorf("update of the canceled execution = %v %v, want InvalidStateTransition", ok, got)
		}
	})

	t.Run("a document from documentSource in moto's S3", func(t *testing.T) {
		store := s3.NewFromConfig(d.Info.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := store.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("job-docs")}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("job-docs"), Key: aws.String("v1/job.json"), Body: strings.NewReader(`{"from":"s3"}`)}); err != nil {
			t.Fatal(err)
		}
		source := "https://s3.amazonaws.com/job-docs/v1/job.json"
		if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("from-s3"), Targets: []string{aws.ToString(group.ThingGroupArn)}, DocumentSource: aws.String(source)}); err != nil {
			t.Fatal(err)
		}
		note := dev.next("notify-next")
		if exec := note["execution"].(map[string]any); exec["jobId"] != "from-s3" || exec["jobDocument"].(map[string]any)["from"] != "s3" {
			t.Errorf("notify-next = %v, want from-s3 with the S3 object as its document", note)
		}
		job, err := client.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String("from-s3")})
		if err != nil || aws.ToString(job.DocumentSource) != source {
			t.Errorf("DescribeJob documentSource = %v, %v; want %s", job, err, source)
		}
		if _, err := client.CancelJob(ctx, &iot.CancelJobInput{JobId: aws.String("from-s3")}); err != nil {
			t.Fatal(err)
		}
		if note := dev.next("notify-next"); note["execution"] != nil {
			t.Errorf("notify-next after CancelJob = %v, want nothing pending", note)
		}
		var invalid *iottypes.InvalidRequestException
		if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("no-doc"), Targets: []string{aws.ToString(group.ThingGroupArn)},
			DocumentSource: aws.String("https://s3.amazonaws.com/job-docs/missing.json")}); !errors.As(err, &invalid) {
			t.Errorf("CreateJob with a missing documentSource object: err = %v, want InvalidRequestException", err)
		}
	})

	var dev2 thingFiles
	t.Run("a thing added to the group later gets the continuous jobs", func(t *testing.T) {
		dev2 = createThing(t, d, "dev2", "--group", "sward-devices")
		client := iot.NewFromConfig(d.Info.IoTConfig())
		testutil.Eventually(t, "dev2 has release-9", func() error {
			ids, err := executionsOf(ctx, client, "dev2")
			if err != nil {
				return err
			}
			if !slices.Contains(ids, "release-9") || slices.Contains(ids, "to-cancel") {
				return fmt.Errorf("dev2's executions: %v, want the continuous release-9 and not the snapshot to-cancel", ids)
			}
			return nil
		})
	})

	t.Run("another thing may not touch dev1's jobs", func(t *testing.T) {
		if dev2.ThingName == "" {
			t.Fatal("dev2 was not created")
		}
		lost := make(chan error, 1)
		c, err := dialThing(d.Info.Endpoints.IoTData, "dev2", deviceTLS(t, dev2), lost)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect(0)
		c.Publish("$aws/things/dev1/jobs/release-9/update", 1, false, `{"status":"SUCCEEDED"}`)
		testutil.Receive(t, lost, "dev2's connection closed for publishing to dev1's jobs topic")
		if st := executionStatus(t, client, "release-9", "dev1"); st != iottypes.JobExecutionStatusSucceeded {
			t.Errorf("dev1's release-9 = %s, want SUCCEEDED unchanged", st)
		}
	})

	t.Run("devcloud status shows things, connections, jobs and executions", func(t *testing.T) {
		r := statusReport(t, d)
		if len(r.Things) != 2 || !r.Things[0].Connected || r.Things[0].Name != "dev1" {
			t.Errorf("status things = %+v, want dev1 (connected) and dev2", r.Things)
		}
		if len(r.Connections) != 1 || r.Connections[0].ThingName != "dev1" {
			t.Errorf("status connections = %+v, want dev1's", r.Connections)
		}
		if len(r.Jobs) != rounds+2 || r.Jobs[0].JobID != "release-0" || r.Jobs[0].Executions[0].Status != "SUCCEEDED" {
			t.Errorf("status jobs = %+v, want the %d jobs, release-0 SUCCEEDED for dev1", r.Jobs, rounds+2)
		}
		text, err := d.Run(t, "status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"THINGS (2)", "CONNECTIONS (1)", "to-cancel", "CANCELED", "RULES"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("status text lacks %q:\n%s", want, text)
			}
		}
	})
}

func TestDevcloudJobsSurviveAKill9(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	template, data := harness.SynthTemplate(t), t.TempDir()
	first := harness.StartDevcloud(t, template, data, "--moto-endpoint", moto.URL)
	dev1 := createThing(t, first, "dev1")
	dev := connectJobsDevice(t, first, dev1)
	client := iot.NewFromConfig(first.Info.IoTConfig())
	ctx := context.Background()
	for _, id := range []string{"job-a", "job-b"} {
		if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String(id), Targets: []string{"arn:aws:iot:us-east-1:123456789012:thing/dev1"}, Document: aws.String(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if note := dev.next("notify-next"); note["execution"].(map[string]any)["jobId"] != "job-a" {
		t.Fatalf("notify-next = %v, want job-a (job-b queued after it)", note)
	}
	if ok, got := dev.request("start-next", `{"statusDetails":{"step":"1"}}`); !ok || got["execution"].(map[string]any)["jobId"] != "job-a" {
		t.Fatalf("start-next = %v %v, want job-a", ok, got)
	}
	first.Kill()

	second := harness.StartDevcloud(t, template, data, "--moto-endpoint", moto.URL)
	client = iot.NewFromConfig(second.Info.IoTConfig())
	if st := executionStatus(t, client, "job-a", "dev1"); st != iottypes.JobExecutionStatusInProgress {
		t.Errorf("job-a after kill -9 = %s, want IN_PROGRESS", st)
	}
	if st := executionStatus(t, client, "job-b", "dev1"); st != iottypes.JobExecutionStatusQueued {
		t.Errorf("job-b after kill -9 = %s, want QUEUED", st)
	}
	dev = connectJobsDevice(t, second, dev1)
	ok, got := dev.request("$next/get", `{}`)
	if !ok {
		t.Fatalf("$next/get after the restart: %v", got)
	}
	exec := got["execution"].(map[string]any)
	if exec["jobId"] != "job-a" || exec["versionNumber"] != 2.0 || exec["statusDetails"].(map[string]any)["step"] != "1" {
		t.Errorf("$next after the restart = %v, want job-a at version 2 with its statusDetails", exec)
	}
	if ok, got := dev.request("job-a/update", `{"status":"SUCCEEDED","expectedVersion":2}`); !ok {
		t.Errorf("update after the restart: %v", got)
	}
	if note := dev.next("notify-next"); note["execution"].(map[string]any)["jobId"] != "job-b" {
		t.Errorf("notify-next after job-a ended = %v, want job-b", note)
	}
}

// TestDevcloudJobsWithMosquittoClients takes a job through the stock
// mosquitto clients with the issued certificate: mosquitto_sub waits for
// notify-next, mosquitto_rr (MQTT 5 request/response on one connection)
// sends start-next and the update and prints the answer.
func TestDevcloudJobsWithMosquittoClients(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_rr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: `make tools` installs mosquitto-clients (apt-get)", tool)
		}
	}
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	host, port, _ := strings.Cut(d.Info.Endpoints.IoTData, ":")
	tlsArgs := []string{"-h", host, "-p", port, "-i", "dev1", "--cafile", dev1.RootCaPath, "--cert", dev1.CertificateFilePath, "--key", dev1.PrivateKeyPath, "-q", "1"}
	const prefix = "$aws/things/dev1/jobs/"

	sub := exec.Command("mosquitto_sub", append(tlsArgs, "-t", prefix+"notify-next", "-C", "1", "-W", "60")...)
	out := &strings.Builder{}
	sub.Stdout, sub.Stderr = out, out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill() })
	client := iot.NewFromConfig(d.Info.IoTConfig())
	// The job is created once mosquitto_sub is connected and subscribed.
	testutil.Eventually(t, "mosquitto_sub connected", func() error {
		r, err := status.Fetch(context.Background(), d.Info.Endpoints.Status)
		if err != nil {
			return err
		}
		if len(r.Connections) != 1 {
			return errors.New("not connected yet")
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // SUBSCRIBE follows CONNECT; the status shows only the connection
	if _, err := client.CreateJob(context.Background(), &iot.CreateJobInput{JobId: aws.String("mosq"), Targets: []string{"arn:aws:iot:us-east-1:123456789012:thing/dev1"}, Document: aws.String(`{"by":"mosquitto"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, out)
	}
	if !strings.Contains(out.String(), `"jobId":"mosq"`) || !strings.Contains(out.String(), `"by":"mosquitto"`) {
		t.Errorf("mosquitto_sub received %s, want the mosq execution with its document", out)
	}

	rr := func(topic, payload string) string {
		t.Helper()
		args := append(slices.Clone(tlsArgs), "-V", "mqttv5", "-t", prefix+topic, "-e", prefix+topic+"/accepted", "-m", payload, "-W", "30")
		b, err := exec.Command("mosquitto_rr", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_rr %s: %v: %s", topic, err, b)
		}
		return string(b)
	}
	if got := rr("start-next", `{"clientToken":"m1"}`); !strings.Contains(got, `"status":"IN_PROGRESS"`) || !strings.Contains(got, `"clientToken":"m1"`) {
		t.Errorf("start-next through mosquitto_rr answered %s, want IN_PROGRESS and the token", got)
	}
	if got := rr("mosq/update", `{"status":"SUCCEEDED","includeJobExecutionState":true}`); !strings.Contains(got, `"status":"SUCCEEDED"`) {
		t.Errorf("update through mosquitto_rr answered %s, want SUCCEEDED", got)
	}
	if st := executionStatus(t, client, "mosq", "dev1"); st != iottypes.JobExecutionStatusSucceeded {
		t.Errorf("DescribeJobExecution = %s, want SUCCEEDED", st)
	}
	if _, err := os.Stat(filepath.Join(d.Data, "jobs", "mosq", "executions", "dev1.json")); err != nil {
		t.Errorf("the execution's file: %v", err)
	}
}
