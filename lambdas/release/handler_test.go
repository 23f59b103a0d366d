package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/lambdas/internal/lambdatest"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/release"
)

func unreachableHandler(t testing.TB) (*Handler, *lambdatest.Log) {
	cfg := lambdatest.Unreachable(t)
	log := lambdatest.NewLog("release")
	return &Handler{S3: s3.NewFromConfig(cfg), IoT: iot.NewFromConfig(cfg), DB: dynamodb.NewFromConfig(cfg), Table: "releases", Log: log.Logger}, log
}

func readEvent(t testing.TB, name string) events.S3Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEventsForOtherObjectsAreIgnored(t *testing.T) {
	h, log := unreachableHandler(t)
	ev := readEvent(t, "s3-other-keys.json")
	out, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle failed (and touched AWS?): %v", err)
	}
	if len(out) != len(ev.Records) {
		t.Fatalf("%d outcomes for %d records", len(out), len(ev.Records))
	}
	for i, o := range out {
		if o.Status != Ignored {
			t.Errorf("record %d (%q): %s, want IGNORED", i, o.Key, o.Status)
		}
	}
	if log.Find(t, "not a release manifest event; check the bucket notification's prefix and suffix") == nil {
		t.Error("ignored records are not logged")
	}
}

func TestManifestEventTouchesS3AndFailsInternallyWhenItCannot(t *testing.T) {
	h, log := unreachableHandler(t)
	out, err := h.Handle(context.Background(), readEvent(t, "s3-put.json"))
	if err != lambdakit.ErrInternal || len(out) != 0 {
		t.Fatalf("Handle = %+v, %v; want lambdakit.ErrInternal so Lambda retries", out, err)
	}
	if rec := log.Find(t, "read release manifest"); rec == nil || rec["jobId"] != "sward-3f2a9c0d1e2b3a4c5d6e7f8091a2b3c4d5e6f708" {
		t.Errorf("the failure is not logged with the job id: %v", log.Records(t))
	}
}

// manifestOnly is an artifacts bucket holding one object; every other key
// fails the test.
type manifestOnly struct {
	t    *testing.T
	key  string
	body []byte
}

func (m manifestOnly) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if *in.Key != m.key {
		m.t.Errorf("GetObject %s: only the manifest should be read", *in.Key)
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(m.body))}, nil
}

func (m manifestOnly) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	m.t.Errorf("HeadObject %s: nothing but the manifest should be read", *in.Key)
	return nil, errors.New("unexpected")
}

// noJobs fails the test on any IoT call.
type noJobs struct{ t *testing.T }

func (j noJobs) DescribeThingGroup(_ context.Context, in *iot.DescribeThingGroupInput, _ ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error) {
	j.t.Errorf("DescribeThingGroup %s", *in.ThingGroupName)
	return nil, errors.New("unexpected")
}

func (j noJobs) DescribeJob(_ context.Context, in *iot.DescribeJobInput, _ ...func(*iot.Options)) (*iot.DescribeJobOutput, error) {
	j.t.Errorf("DescribeJob %s", *in.JobId)
	return nil, errors.New("unexpected")
}

func (j noJobs) CreateJob(_ context.Context, in *iot.CreateJobInput, _ ...func(*iot.Options)) (*iot.CreateJobOutput, error) {
	j.t.Errorf("CreateJob %s", *in.JobId)
	return nil, errors.New("unexpected")
}

func (j noJobs) CancelJob(_ context.Context, in *iot.CancelJobInput, _ ...func(*iot.Options)) (*iot.CancelJobOutput, error) {
	j.t.Errorf("CancelJob %s", *in.JobId)
	return nil, errors.New("unexpected")
}

// updates records the releases table's updates and fails the test on
// anything else.
type updates struct {
	t     *testing.T
	items []*dynamodb.UpdateItemInput
}

func (u *updates) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	u.items = append(u.items, in)
	return &dynamodb.UpdateItemOutput{}, nil
}

func (u *updates) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	u.t.Errorf("GetItem %v", in.Key)
	return nil, errors.New("unexpected")
}

func (u *updates) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	u.t.Errorf("TransactWriteItems of %d items", len(in.TransactItems))
	return nil, errors.New("unexpected")
}

func TestAManifestForAGroupTheStackDoesNotManageIsRejectedAndRecordedNotRetried(t *testing.T) {
	manifest, err := os.ReadFile("../../shared/release/testdata/release.json") // thingGroup sward-devices
	if err != nil {
		t.Fatal(err)
	}
	m, err := release.Decode(manifest)
	if err != nil {
		t.Fatal(err)
	}
	key := "releases/" + m.CommitID + "/release.json"
	db := &updates{t: t}
	log := lambdatest.NewLog("release")
	h := &Handler{S3: manifestOnly{t, key, manifest}, IoT: noJobs{t}, DB: db, Table: "releases", ThingGroup: "greenhouse-fleet", Log: log.Logger}
	var ev events.S3Event
	ev.Records = []events.S3EventRecord{{EventName: "ObjectCreated:Put"}}
	ev.Records[0].S3.Bucket.Name = "sward-artifacts"
	ev.Records[0].S3.Object.URLDecodedKey = key

	out, err := h.Handle(context.Background(), ev)
	// No error: Lambda must not retry a release that can only fail again.
	if err != nil || len(out) != 1 || out[0].Status != Rejected {
		t.Fatalf("Handle = %+v, %v; want one REJECTED outcome and no error", out, err)
	}
	for _, want := range []string{`thingGroup: is "sward-devices"`, `manages thing group "greenhouse-fleet" only`} {
		if !strings.Contains(out[0].Reason, want) {
			t.Errorf("reason %q does not say %q", out[0].Reason, want)
		}
	}
	if len(db.items) != 1 {
		t.Fatalf("%d updates of the releases table, want the one rejection record", len(db.items))
	}
	if got := db.items[0].ExpressionAttributeValues[":rejected"].(*dbtypes.AttributeValueMemberS).Value; got != "REJECTED" {
		t.Errorf("recorded status %q, want REJECTED", got)
	}
	if reason := db.items[0].ExpressionAttributeValues[":reason"].(*dbtypes.AttributeValueMemberS).Value; !strings.Contains(reason, "greenhouse-fleet") {
		t.Errorf("recorded reason %q does not name the managed group", reason)
	}
	if log.Find(t, "release rejected") == nil {
		t.Error("the rejection is not logged")
	}
}

func TestJobInputCarriesTheManifestSettings(t *testing.T) {
	m := testManifest(t)
	in := jobInput(m, release.JobID(m.CommitID), "arn:aws:iot:us-east-1:123456789012:thinggroup/sward-devices", "{}")
	if *in.JobId != "sward-"+m.CommitID || in.Targets[0] != "arn:aws:iot:us-east-1:123456789012:thinggroup/sward-devices" || in.TargetSelection != "SNAPSHOT" {
		t.Errorf("job = %+v", in)
	}
	r := in.JobExecutionsRolloutConfig
	if *r.MaximumPerMinute != 50 || *r.ExponentialRate.BaseRatePerMinute != 5 || *r.ExponentialRate.IncrementFactor != 2 ||
		*r.ExponentialRate.RateIncreaseCriteria.NumberOfSucceededThings != 5 || r.ExponentialRate.RateIncreaseCriteria.NumberOfNotifiedThings != nil {
		t.Errorf("rollout = %+v", r)
	}
	c := in.AbortConfig.CriteriaList[0]
	if c.Action != "CANCEL" || c.FailureType != "FAILED" || *c.ThresholdPercentage != 20 || *c.MinNumberOfExecutedThings != 5 {
		t.Errorf("abort = %+v", c)
	}
	if *in.TimeoutConfig.InProgressTimeoutInMinutes != 60 {
		t.Errorf("timeout = %+v", in.TimeoutConfig)
	}
}

func TestJobDocumentTellsDevicesWhereTheRecipesAre(t *testing.T) {
	m := testManifest(t)
	doc, err := jobDocument(m, "sward-artifacts")
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployment.Decode(doc)
	if err != nil {
		t.Fatalf("the job document does not decode on a device: %v\n%s", err, doc)
	}
	src := d.RecipeSource
	if src == nil || src.Bucket != "sward-artifacts" || src.Prefix != "releases/"+m.CommitID+"/recipes/" {
		t.Fatalf("recipeSource = %+v", src)
	}
	for name, c := range m.Components {
		if got := src.RecipeKey(name, c.Version); got != c.Recipe.Key {
			t.Errorf("the device would fetch %s's recipe from %s; the release has it at %s", name, got, c.Recipe.Key)
		}
	}
	if d.DeploymentID != release.JobID(m.CommitID) || d.GroupName != m.ThingGroup {
		t.Errorf("document = %s", doc)
	}
}

func FuzzHandle(f *testing.F) {
	for _, name := range []string{"s3-put.json", "s3-other-keys.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	h, _ := unreachableHandler(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev events.S3Event
		if json.Unmarshal(data, &ev) != nil {
			return // the Lambda runtime refuses it before the handler
		}
		_, err := h.Handle(context.Background(), ev)
		if err != nil && err != lambdakit.ErrInternal {
			t.Fatalf("Handle returned %v", err)
		}
	})
}

// testManifest is shared/release's sample manifest.
func testManifest(t *testing.T) *release.Manifest {
	t.Helper()
	data, err := os.ReadFile("../../shared/release/testdata/release.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := release.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
