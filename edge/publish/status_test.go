package publish

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/sward-iot/sward/shared/deploymentstatus"
	"github.com/sward-iot/sward/shared/release"
)

// newReleasesTable makes a releases table in moto holding items.
func newReleasesTable(t *testing.T, name string, items ...map[string]dbtypes.AttributeValue) {
	t.Helper()
	ctx := context.Background()
	db := dynamodb.NewFromConfig(moto.Config())
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String(release.AttrJobID), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String(release.AttrJobID), KeyType: dbtypes.KeyTypeHash}},
		BillingMode:          dbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

func s(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: v} }

func TestReleaseStatusShowsTheRecordTheCountsAndEachDevicesExecution(t *testing.T) {
	ctx := context.Background()
	commit := strings.Repeat("1a", 20)
	job := release.JobID(commit)
	newReleasesTable(t, "releases-status", map[string]dbtypes.AttributeValue{
		release.AttrJobID: s(job), release.AttrCommitID: s(commit), release.AttrThingGroup: s(testGroup),
		release.AttrStatus: s(string(release.InProgress)), release.AttrUpdatedAt: s("2026-01-02T03:04:05Z"),
		release.CountAttr(deploymentstatus.Succeeded): &dbtypes.AttributeValueMemberN{Value: "2"},
		release.CountAttr(deploymentstatus.Failed):    &dbtypes.AttributeValueMemberN{Value: "1"},
	})
	jobs := iot.NewFromConfig(moto.Config())
	var arns []string
	for _, thing := range []string{"status-dev2", "status-dev1"} {
		out, err := jobs.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(thing)})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(out.ThingArn))
	}
	if _, err := jobs.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String(job), Targets: arns, Document: aws.String(`{}`)}); err != nil {
		t.Fatal(err)
	}

	st, err := Status(ctx, NewDynamoDB(moto.Config()), "releases-status", jobs, commit)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Recorded || st.Status != release.InProgress || st.ThingGroup != testGroup || st.Devices[deploymentstatus.Succeeded] != 2 || st.Devices[deploymentstatus.Failed] != 1 {
		t.Errorf("status %+v; want the table's record", st)
	}
	described, err := jobs.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String(job)})
	if err != nil {
		t.Fatal(err)
	}
	if st.JobStatus == "" || st.JobStatus != string(described.Job.Status) || len(st.Executions) != 2 || st.Executions[0] != (Execution{"status-dev1", "QUEUED"}) || st.Executions[1].Thing != "status-dev2" {
		t.Errorf("job %s, executions %v; want %s with dev1 and dev2 QUEUED, sorted", st.JobStatus, described.Job.Status, st.Executions)
	}
	var out bytes.Buffer
	st.Print(&out)
	for _, want := range []string{"status   IN_PROGRESS (updated 2026-01-02T03:04:05Z)", "devices  2 SUCCEEDED, 1 FAILED", "iot job  " + st.JobStatus, "status-dev1", "QUEUED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed\n%s\nwithout %q", out.String(), want)
		}
	}
}

func TestReleaseStatusOfARejectedReleaseShowsEveryReasonAndNoJob(t *testing.T) {
	ctx := context.Background()
	commit := strings.Repeat("2b", 20)
	newReleasesTable(t, "releases-rejected", map[string]dbtypes.AttributeValue{
		release.AttrJobID: s(release.JobID(commit)), release.AttrStatus: s(string(release.Rejected)),
		release.AttrReason: s("components[\"A\"]: first problem\ncomponents[\"B\"]: second problem"),
	})
	st, err := Status(ctx, NewDynamoDB(moto.Config()), "releases-rejected", iot.NewFromConfig(moto.Config()), commit)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st.Print(&out)
	if st.Status != release.Rejected || st.JobStatus != "" || !strings.Contains(out.String(), "reason   components[\"A\"]: first problem\n         components[\"B\"]: second problem") {
		t.Errorf("printed\n%s\nwant REJECTED with both reasons, no job", out.String())
	}

	// Not processed yet: said so.
	st, err = Status(ctx, NewDynamoDB(moto.Config()), "releases-rejected", iot.NewFromConfig(moto.Config()), strings.Repeat("3c", 20))
	if err != nil || st.Recorded {
		t.Fatalf("status of an unknown release: %+v, %v", st, err)
	}
	out.Reset()
	st.Print(&out)
	if !strings.Contains(out.String(), "not recorded yet") {
		t.Errorf("printed\n%s\nwant it to say the release Lambda has not recorded it", out.String())
	}

	// A missing table is an error naming it.
	if _, err := Status(ctx, NewDynamoDB(moto.Config()), "no-such-table", iot.NewFromConfig(moto.Config()), commit); err == nil || !strings.Contains(err.Error(), "no-such-table") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("err = %v, want one naming the table and ResourceNotFoundException", err)
	}
}

func TestWaitRecordedReturnsOnceTheReleaseLambdaRecordsTheRelease(t *testing.T) {
	ctx := context.Background()
	newReleasesTable(t, "releases-wait")
	db, jobs := NewDynamoDB(moto.Config()), iot.NewFromConfig(moto.Config())
	accepted, rejected := strings.Repeat("4d", 20), strings.Repeat("5e", 20)

	// Not recorded within the time given: an error saying so.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := WaitRecorded(short, db, "releases-wait", jobs, accepted, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "has not recorded release "+accepted) {
		t.Fatalf("err = %v, want one saying the release is not recorded", err)
	}

	put := func(commit string, status release.Status, reason string) {
		item := map[string]dbtypes.AttributeValue{release.AttrJobID: s(release.JobID(commit)), release.AttrStatus: s(string(status))}
		if reason != "" {
			item[release.AttrReason] = s(reason)
		}
		if _, err := dynamodb.NewFromConfig(moto.Config()).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("releases-wait"), Item: item}); err != nil {
			t.Error(err)
		}
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // the release Lambda, later
		put(accepted, release.InProgress, "")
	}()
	st, err := WaitRecorded(ctx, db, "releases-wait", jobs, accepted, 50*time.Millisecond)
	if err != nil || st.Status != release.InProgress {
		t.Fatalf("WaitRecorded = %+v, %v; want IN_PROGRESS", st, err)
	}

	put(rejected, release.Rejected, "components[\"A\"]: bad")
	st, err = WaitRecorded(ctx, db, "releases-wait", jobs, rejected, 50*time.Millisecond)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), `components["A"]: bad`) || st == nil || st.Status != release.Rejected {
		t.Fatalf("WaitRecorded = %+v, %v; want ErrRejected with the reason", st, err)
	}
}
