package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/deploymentstatus"
	"github.com/sward-iot/sward/shared/topics"
)

const thing = "pi-1"

// cloud stands in for the IoT Core link and IoT Jobs behind it, with the
// wire of ../shared/reference/aws-iot-wire.md: plain job topics, answers
// with the request's clientToken, notify-next when the next pending
// execution changes. Offline, what the device publishes waits (as in the
// link's spool) and goes out, in order, on connect.
type cloud struct {
	t  *testing.T
	nc *nats.Conn

	mu       sync.Mutex
	online   bool
	spooled  []iotcore.Message
	subs     map[string]iotcore.Handler
	execs    []*cloudExec
	lastNext string
	// beforeUpdate, when set, runs before an update is answered.
	beforeUpdate func(e *cloudExec, status string)

	status chan *deploymentstatus.Message
}

type cloudExec struct {
	jobID   string
	doc     json.RawMessage
	status  string
	version int64
	number  int64
	details map[string]string
}

func newCloud(t *testing.T, nc *nats.Conn) *cloud {
	return &cloud{t: t, nc: nc, online: true, subs: map[string]iotcore.Handler{}, status: make(chan *deploymentstatus.Message, 100)}
}

func (c *cloud) Subscribe(_ context.Context, filter string, qos byte, h iotcore.Handler) (func(context.Context) error, error) {
	if qos != 1 {
		c.t.Errorf("subscription to %s with QoS %d, want 1", filter, qos)
	}
	c.mu.Lock()
	c.subs[filter] = h
	c.mu.Unlock()
	return func(context.Context) error {
		c.mu.Lock()
		delete(c.subs, filter)
		c.mu.Unlock()
		return nil
	}, nil
}

func (c *cloud) Publish(_ context.Context, m iotcore.Message) error {
	want := byte(1) // the link's durable spool
	if strings.HasSuffix(m.Topic, "/start-next") {
		want = 0 // asked again on every connection
	}
	if m.QoS != want {
		c.t.Errorf("published on %s with QoS %d, want %d", m.Topic, m.QoS, want)
	}
	c.mu.Lock()
	if !c.online && m.QoS == 0 {
		c.mu.Unlock()
		return iotcore.ErrOffline
	}
	if !c.online {
		c.spooled = append(c.spooled, m)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.receive(m)
	return nil
}

// matches is MQTT filter matching, + and # wildcards.
func matches(filter, topic string) bool {
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, p := range f {
		if p == "#" {
			return true
		}
		if i >= len(tp) || (p != "+" && p != tp[i]) {
			return false
		}
	}
	return len(f) == len(tp)
}

func (c *cloud) deliver(topic string, v any) {
	data, _ := json.Marshal(v)
	c.mu.Lock()
	var hs []iotcore.Handler
	for f, h := range c.subs {
		if matches(f, topic) {
			hs = append(hs, h)
		}
	}
	c.mu.Unlock()
	for _, h := range hs {
		h(iotcore.Message{Topic: topic, Payload: data, QoS: 1})
	}
}

func (c *cloud) receive(m iotcore.Message) {
	base := "$aws/things/" + thing + "/jobs/"
	switch {
	case m.Topic == topics.DeploymentStatus(thing):
		msg, err := deploymentstatus.DecodeMessage(m.Payload)
		if err != nil {
			c.t.Errorf("the deployment-events Lambda would refuse %s: %v", m.Payload, err)
			return
		}
		c.status <- msg
	case m.Topic == base+"start-next":
		c.startNext(m)
	case strings.HasPrefix(m.Topic, base) && strings.HasSuffix(m.Topic, "/update"):
		c.update(strings.TrimSuffix(strings.TrimPrefix(m.Topic, base), "/update"), m)
	default:
		c.t.Errorf("published on unexpected topic %s", m.Topic)
	}
}

func token(t *testing.T, payload []byte) string {
	var r struct {
		ClientToken string `json:"clientToken"`
	}
	if err := json.Unmarshal(payload, &r); err != nil || r.ClientToken == "" {
		t.Errorf("request without clientToken: %s", payload)
	}
	return r.ClientToken
}

// next is the thing's next pending execution: IN_PROGRESS first, then
// the oldest QUEUED; mu is held.
func (c *cloud) next() *cloudExec {
	for _, e := range c.execs {
		if e.status == "IN_PROGRESS" {
			return e
		}
	}
	for _, e := range c.execs {
		if e.status == "QUEUED" {
			return e
		}
	}
	return nil
}

func (e *cloudExec) data(withDoc bool) map[string]any {
	out := map[string]any{"jobId": e.jobID, "thingName": thing, "status": e.status, "versionNumber": e.version, "executionNumber": e.number}
	if withDoc {
		out["jobDocument"] = e.doc
	}
	return out
}

func (c *cloud) startNext(m iotcore.Message) {
	tok := token(c.t, m.Payload)
	c.mu.Lock()
	e := c.next()
	answer := map[string]any{"clientToken": tok, "timestamp": time.Now().Unix()}
	if e != nil {
		if e.status == "QUEUED" {
			e.status, e.version = "IN_PROGRESS", e.version+1
		}
		answer["execution"] = e.data(true)
	}
	c.mu.Unlock()
	c.deliver(m.Topic+"/accepted", answer)
}

func (c *cloud) update(jobID string, m iotcore.Message) {
	var req struct {
		Status          string            `json:"status"`
		StatusDetails   map[string]string `json:"statusDetails"`
		ExpectedVersion *int64            `json:"expectedVersion"`
		ExecutionNumber *int64            `json:"executionNumber"`
		ClientToken     string            `json:"clientToken"`
	}
	if err := json.Unmarshal(m.Payload, &req); err != nil {
		c.t.Errorf("update %s: %v", m.Payload, err)
		return
	}
	for k, v := range req.StatusDetails {
		if len(k) < 1 || len(k) > 128 || len([]rune(v)) < 1 || len([]rune(v)) > 1024 {
			c.t.Errorf("statusDetails %q: %q breaks IoT Jobs' limits", k, v)
		}
	}
	c.mu.Lock()
	var e *cloudExec
	for _, x := range c.execs {
		if x.jobID == jobID {
			e = x
		}
	}
	hook := c.beforeUpdate
	c.mu.Unlock()
	if e == nil {
		c.deliver(m.Topic+"/rejected", map[string]any{"code": "ResourceNotFound", "message": "no such job", "clientToken": req.ClientToken})
		return
	}
	if hook != nil {
		hook(e, req.Status)
	}
	c.mu.Lock()
	state := map[string]any{"status": e.status, "versionNumber": e.version}
	switch {
	case req.ExpectedVersion != nil && *req.ExpectedVersion != e.version:
		c.mu.Unlock()
		c.deliver(m.Topic+"/rejected", map[string]any{"code": "VersionMismatch", "message": "version", "clientToken": req.ClientToken, "executionState": state})
		return
	case e.status != "QUEUED" && e.status != "IN_PROGRESS":
		c.mu.Unlock()
		c.deliver(m.Topic+"/rejected", map[string]any{"code": "InvalidStateTransition", "message": "terminal", "clientToken": req.ClientToken, "executionState": state})
		return
	}
	e.status, e.version = req.Status, e.version+1
	if req.StatusDetails != nil {
		e.details = req.StatusDetails
	}
	state = map[string]any{"status": e.status, "versionNumber": e.version}
	c.mu.Unlock()
	c.deliver(m.Topic+"/accepted", map[string]any{"clientToken": req.ClientToken, "executionState": state})
	c.notifyNext()
}

// notifyNext sends notify-next when the next pending execution changed.
func (c *cloud) notifyNext() {
	c.mu.Lock()
	e := c.next()
	id := ""
	if e != nil {
		id = e.jobID
	}
	changed := id != c.lastNext && c.online
	if changed {
		c.lastNext = id
	}
	msg := map[string]any{"timestamp": time.Now().Unix()}
	if e != nil {
		msg["execution"] = e.data(true)
	}
	c.mu.Unlock()
	if !changed {
		return
	}
	c.deliver("$aws/things/"+thing+"/jobs/notify-next", msg)
}

// queue creates a job for the thing.
func (c *cloud) queue(jobID string, doc string) {
	c.mu.Lock()
	var n int64 = 1
	for _, e := range c.execs {
		if e.jobID == jobID {
			n = e.number + 1
		}
	}
	c.execs = append(c.execs, &cloudExec{jobID: jobID, doc: json.RawMessage(doc), status: "QUEUED", version: 1, number: n})
	c.mu.Unlock()
	c.notifyNext()
}

func (c *cloud) exec(jobID string) cloudExec {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.execs) - 1; i >= 0; i-- {
		if c.execs[i].jobID == jobID {
			return *c.execs[i]
		}
	}
	c.t.Fatalf("no execution of %s", jobID)
	return cloudExec{}
}

// waitStatus waits until jobID's execution is status.
func (c *cloud) waitStatus(jobID, status string) cloudExec {
	var e cloudExec
	testutil.Eventually(c.t, "job "+jobID+" "+status, func() error {
		if e = c.exec(jobID); e.status != status {
			return fmt.Errorf("execution is %s (%v)", e.status, e.details)
		}
		return nil
	})
	return e
}

func (c *cloud) setOnline(online bool) {
	c.mu.Lock()
	c.online = online
	spooled := c.spooled
	c.spooled = nil
	c.mu.Unlock()
	if !online {
		return
	}
	for _, m := range spooled {
		c.receive(m)
	}
	data, _ := json.Marshal(map[string]any{"connected": true})
	if err := c.nc.Publish(topics.CloudLinkStateSubject, data); err != nil {
		c.t.Fatal(err)
	}
	c.notifyNext()
}

// engine stands in for edge/deployment's engine: it records what is
// submitted, with the recipes staged for it, and ends each deployment as
// end says (SUCCEEDED when end is nil) once release lets it.
type engine struct {
	t  *testing.T
	mu sync.Mutex
	// end decides a submitted deployment's final status.
	end       func(doc *ddoc.Document) ddoc.Status
	hold      bool // deployments stay IN_PROGRESS until finishHeld
	records   map[string]ddoc.Status
	submitted []*ddoc.Document
	requests  []deployment.Request
	canceled  []string
	recipes   map[string][]string // deployment → recipe files staged
	changed   chan struct{}
}

func newEngine(t *testing.T) *engine {
	return &engine{t: t, records: map[string]ddoc.Status{}, recipes: map[string][]string{}, changed: make(chan struct{})}
}

func (e *engine) Submit(req deployment.Request) (ddoc.Status, error) {
	if err := req.Document.Validate(); err != nil {
		return ddoc.Status{}, err
	}
	var files []string
	if req.RecipeDir != "" {
		entries, err := os.ReadDir(req.RecipeDir)
		if err != nil {
			e.t.Errorf("recipe folder: %v", err)
		}
		for _, f := range entries {
			files = append(files, f.Name())
			if _, err := os.ReadFile(filepath.Join(req.RecipeDir, f.Name())); err != nil {
				e.t.Error(err)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := req.Document.DeploymentID
	if _, ok := e.records[id]; ok {
		return ddoc.Status{}, fmt.Errorf("deployment %s already exists", id)
	}
	e.submitted = append(e.submitted, req.Document)
	e.requests = append(e.requests, req)
	e.recipes[id] = files
	st := ddoc.Status{DeploymentID: id, Group: req.Document.GroupName, State: ddoc.InProgress, CreatedAt: time.Now(), StartedAt: time.Now()}
	if !e.hold {
		st = e.ended(req.Document, st)
	}
	e.records[id] = st
	e.broadcast()
	return st, nil
}

func (e *engine) ended(doc *ddoc.Document, st ddoc.Status) ddoc.Status {
	out := ddoc.Status{State: ddoc.Succeeded}
	if e.end != nil {
		out = e.end(doc)
	}
	st.State, st.Reason, st.Components, st.EndedAt = out.State, out.Reason, out.Components, time.Now()
	if strings.HasPrefix(out.Reason, "refused") {
		st.StartedAt = time.Time{} // the engine refused it before it started
	}
	return st
}

// finishHeld ends every held deployment.
func (e *engine) finishHeld() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hold = false
	for _, doc := range e.submitted {
		if st := e.records[doc.DeploymentID]; !st.State.Terminal() {
			e.records[doc.DeploymentID] = e.ended(doc, st)
		}
	}
	e.broadcast()
}

func (e *engine) broadcast() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Cancel ends a held deployment ROLLED_BACK with the cancel as reason, as
// the engine does under the default failure handling.
func (e *engine) Cancel(id, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.records[id]
	if !ok {
		return fmt.Errorf("%w %q", deployment.ErrUnknownDeployment, id)
	}
	if st.State.Terminal() {
		return deployment.ErrNotCancelable
	}
	e.canceled = append(e.canceled, id)
	st.State, st.Reason, st.EndedAt = ddoc.RolledBack, "canceled: "+reason+"; rolled back to the previous components and configuration", time.Now()
	st.Components = []ddoc.ComponentOutcome{{Name: "com.example.A", Version: "0.9.0", State: "RUNNING"}}
	e.records[id] = st
	e.broadcast()
	return nil
}

func (e *engine) Get(id string) (ddoc.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.records[id]
	if !ok {
		return ddoc.Status{}, fmt.Errorf("%w %q", deployment.ErrUnknownDeployment, id)
	}
	return st, nil
}

func (e *engine) Wait(ctx context.Context, id string) (ddoc.Status, error) {
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		st, err := e.Get(id)
		if err != nil || st.State.Terminal() {
			return st, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

func (e *engine) ids() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, d := range e.submitted {
		out = append(out, d.DeploymentID)
	}
	return out
}

// objects stands in for S3.
type objects map[string]string // "bucket/key" → content

func (o objects) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	data, ok := o[*in.Bucket+"/"+*in.Key]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader([]byte(data)))}, nil
}

func startBus(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	o := broker.DefaultOptions()
	o.NATSListen, o.MQTTListen, o.StoreDir = "127.0.0.1:-1", "", t.TempDir()
	o.Users = []broker.User{{Name: "nucleus", Password: "secret-password"}}
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
	return nc, js
}

// fixture is a jobs service between a stand-in cloud and engine.
type fixture struct {
	t      *testing.T
	nc     *nats.Conn
	js     jetstream.JetStream
	cloud  *cloud
	engine *engine
	s3     objects
	svc    *Service
}

func newFixture(t *testing.T) *fixture {
	nc, js := startBus(t)
	return &fixture{t: t, nc: nc, js: js, cloud: newCloud(t, nc), engine: newEngine(t), s3: objects{}}
}

func (f *fixture) start() {
	s, err := New(Options{ThingName: thing, Conn: f.nc, JetStream: f.js, Link: f.cloud, Engine: f.engine, Objects: f.s3,
		TempDir: f.t.TempDir(), ReplyTimeout: time.Second, Logger: testlog.New(f.t)})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.svc = s
	f.t.Cleanup(func() { f.stop() })
}

func (f *fixture) stop() {
	if f.svc == nil {
		return
	}
	if err := f.svc.Shutdown(context.Background()); err != nil {
		f.t.Error(err)
	}
	f.svc = nil
}

// release puts the recipes of components (name → version) in S3 under
// commit and returns the job document the release Lambda would write.
func (f *fixture) release(jobID, group string, components map[string]string) string {
	doc := ddoc.New(group)
	doc.DeploymentID = jobID
	doc.RecipeSource = &ddoc.RecipeSource{Bucket: "sward-artifacts", Prefix: "releases/" + jobID + "/recipes/"}
	for name, version := range components {
		doc.Components[name] = ddoc.Component{Version: version}
		f.s3["sward-artifacts/"+doc.RecipeSource.RecipeKey(name, version)] = fmt.Sprintf(`{"RecipeFormatVersion": "2020-01-25", "ComponentName": %q, "ComponentVersion": %q,
			"Manifests": [{"Lifecycle": {"Run": "sleep 1000"}}]}`, name, version)
	}
	data, err := doc.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	return string(data)
}

// nextStatus returns the next deployment status message the device sent.
func (f *fixture) nextStatus() *deploymentstatus.Message {
	return testutil.Receive(f.t, f.cloud.status, "a deployment status message")
}
