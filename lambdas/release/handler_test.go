package release

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
