package release

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/lambdas/internal/lambdatest"
	"github.com/sward-iot/sward/lambdas/internal/releasestore"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/release"
)

// scriptedTable answers the group item's reads from current (one per read,
// the last repeated), the release's read from supersedes, and each
// transaction with the next of txErrs (nil when they run out).
type scriptedTable struct {
	current    []string
	supersedes string
	// mineOrder and mineStatus are the release's; currentOrder the
	// current release's (0 and "" for none).
	mineOrder, currentOrder int64
	mineStatus              string
	txErrs                  []error
	txs                     []*dynamodb.TransactWriteItemsInput
	updates                 []*dynamodb.UpdateItemInput
	releaseGet              int
}

func (s *scriptedTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	key := releasestore.S(in.Key, releasestore.AttrJobID)
	if key == releasestore.GroupItemID("fleet") {
		cur := s.current[0]
		if len(s.current) > 1 {
			s.current = s.current[1:]
		}
		if cur == "" {
			return &dynamodb.GetItemOutput{}, nil
		}
		return &dynamodb.GetItemOutput{Item: map[string]dbtypes.AttributeValue{releasestore.AttrCurrentJobID: str(cur),
			releasestore.AttrCurrentOrder: num(s.currentOrder), releasestore.AttrCurrentCommit: str("cccccccccccccccccccccccccccccccccccccccc")}}, nil
	}
	s.releaseGet++
	return &dynamodb.GetItemOutput{Item: map[string]dbtypes.AttributeValue{releasestore.AttrJobID: str(key), releasestore.AttrSupersedes: str(s.supersedes),
		releasestore.AttrStatus: str(s.mineStatus), releasestore.AttrOrder: num(s.mineOrder)}}, nil
}

func num(n int64) dbtypes.AttributeValue {
	return &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func (s *scriptedTable) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.updates = append(s.updates, in)
	return &dynamodb.UpdateItemOutput{}, nil
}

func (s *scriptedTable) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	s.txs = append(s.txs, in)
	if len(s.txErrs) == 0 {
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}
	err := s.txErrs[0]
	s.txErrs = s.txErrs[1:]
	return nil, err
}

// conditionFailed is DynamoDB's answer to a transaction whose item i
// failed its condition.
func conditionFailed(i int) error {
	reasons := make([]dbtypes.CancellationReason, 3)
	for j := range reasons {
		reasons[j].Code = aws.String("None")
	}
	reasons[i].Code = aws.String("ConditionalCheckFailed")
	return &dbtypes.TransactionCanceledException{CancellationReasons: reasons}
}

// cancels records CancelJob calls and answers them with err.
type cancels struct {
	noJobs
	jobs  []string
	force []bool
	err   error
}

func (c *cancels) CancelJob(_ context.Context, in *iot.CancelJobInput, _ ...func(*iot.Options)) (*iot.CancelJobOutput, error) {
	c.jobs = append(c.jobs, *in.JobId)
	c.force = append(c.force, in.Force)
	return &iot.CancelJobOutput{}, c.err
}

func supersedeHandler(t *testing.T, db *scriptedTable, jobs *cancels) (*Handler, *lambdatest.Log) {
	jobs.noJobs = noJobs{t}
	log := lambdatest.NewLog("release")
	return &Handler{IoT: jobs, DB: db, Table: "releases", Log: log.Logger}, log
}

var newManifest = &release.Manifest{CommitID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", ThingGroup: "fleet"}

const oldJob, newJob = "sward-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sward-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

// superseded returns the updates that mark a release SUPERSEDED.
func superseded(db *scriptedTable) []string {
	var jobs []string
	for _, u := range db.updates {
		if v, ok := u.ExpressionAttributeValues[":superseded"].(*dbtypes.AttributeValueMemberS); ok && v.Value == "SUPERSEDED" {
			jobs = append(jobs, releasestore.S(u.Key, releasestore.AttrJobID))
		}
	}
	return jobs
}

func TestSupersedingCancelsThePreviousJobWithoutForceAndRecordsIt(t *testing.T) {
	db, jobs := &scriptedTable{current: []string{oldJob}}, &cancels{}
	h, _ := supersedeHandler(t, db, jobs)
	got, err := h.supersede(context.Background(), h.Log, newManifest, newJob)
	if err != nil || got != oldJob {
		t.Fatalf("supersede = %q, %v; want %s", got, err, oldJob)
	}
	if len(db.txs) != 1 || len(db.txs[0].TransactItems) != 3 {
		t.Fatalf("transactions %+v, want one moving the pointer, recording both releases", db.txs)
	}
	if c := aws.ToString(db.txs[0].TransactItems[0].Update.ConditionExpression); c != "#current = :previous" {
		t.Errorf("the pointer's condition = %q, want it to still name the previous job", c)
	}
	if len(jobs.jobs) != 1 || jobs.jobs[0] != oldJob || jobs.force[0] {
		t.Errorf("CancelJob calls %v (force %v), want %s once, not forced", jobs.jobs, jobs.force, oldJob)
	}
	if s := superseded(db); len(s) != 1 || s[0] != oldJob {
		t.Errorf("SUPERSEDED recorded for %v, want %s", s, oldJob)
	}
}

func TestTheGroupsFirstReleaseSupersedesNothing(t *testing.T) {
	db, jobs := &scriptedTable{current: []string{""}}, &cancels{}
	h, _ := supersedeHandler(t, db, jobs)
	got, err := h.supersede(context.Background(), h.Log, newManifest, newJob)
	if err != nil || got != "" || len(jobs.jobs) != 0 {
		t.Fatalf("supersede = %q, %v, cancels %v; want nothing canceled", got, err, jobs.jobs)
	}
	if c := aws.ToString(db.txs[0].TransactItems[0].Update.ConditionExpression); c != "attribute_not_exists(#current)" || len(db.txs[0].TransactItems) != 2 {
		t.Errorf("transaction %+v, want the pointer created only where there is none", db.txs[0])
	}
}

func TestACancelOfAJobThatHasEndedIsFine(t *testing.T) {
	for _, err := range []error{&iottypes.InvalidRequestException{Message: aws.String("job is COMPLETED")}, &iottypes.ResourceNotFoundException{Message: aws.String("no job")}} {
		db, jobs := &scriptedTable{current: []string{oldJob}}, &cancels{err: err}
		h, log := supersedeHandler(t, db, jobs)
		if _, got := h.supersede(context.Background(), h.Log, newManifest, newJob); got != nil {
			t.Errorf("CancelJob answering %T: supersede = %v, want nil", err, got)
		}
		if s := superseded(db); len(s) != 1 {
			t.Errorf("CancelJob answering %T: SUPERSEDED recorded for %v, want the previous release", err, s)
		}
		if log.Find(t, "the superseded job has ended or is gone; nothing to cancel") == nil {
			t.Errorf("CancelJob answering %T is not logged", err)
		}
	}
}

func TestAFailedCancelFailsTheInvocationSoLambdaRetries(t *testing.T) {
	db, jobs := &scriptedTable{current: []string{oldJob}}, &cancels{err: &iottypes.ThrottlingException{Message: aws.String("slow down")}}
	h, _ := supersedeHandler(t, db, jobs)
	if _, err := h.supersede(context.Background(), h.Log, newManifest, newJob); err != lambdakit.ErrInternal {
		t.Fatalf("supersede = %v, want lambdakit.ErrInternal", err)
	}
	if s := superseded(db); len(s) != 0 {
		t.Errorf("SUPERSEDED recorded for %v while its job still runs", s)
	}
}

func TestAPointerMovedMeanwhileIsReadAgain(t *testing.T) {
	const other = "sward-cccccccccccccccccccccccccccccccccccccccc"
	db, jobs := &scriptedTable{current: []string{oldJob, other}, txErrs: []error{conditionFailed(0)}}, &cancels{}
	h, _ := supersedeHandler(t, db, jobs)
	got, err := h.supersede(context.Background(), h.Log, newManifest, newJob)
	if err != nil || got != other || len(db.txs) != 2 {
		t.Fatalf("supersede = %q, %v after %d transactions; want %s after 2", got, err, len(db.txs), other)
	}
	if len(jobs.jobs) != 1 || jobs.jobs[0] != other {
		t.Errorf("CancelJob calls %v, want %s only (the release that took the pointer in between)", jobs.jobs, other)
	}

	// A pointer that keeps moving fails the invocation after a few tries.
	busy := []error{}
	for range maxPointerAttempts {
		busy = append(busy, conditionFailed(0))
	}
	db, jobs = &scriptedTable{current: []string{oldJob}, txErrs: busy}, &cancels{}
	h, _ = supersedeHandler(t, db, jobs)
	if _, err := h.supersede(context.Background(), h.Log, newManifest, newJob); err != lambdakit.ErrInternal || len(db.txs) != maxPointerAttempts {
		t.Errorf("supersede = %v after %d transactions, want lambdakit.ErrInternal after %d", err, len(db.txs), maxPointerAttempts)
	}
}

func TestARepeatedEventOfASupersededReleaseCancelsNothingNew(t *testing.T) {
	// The group's current job is newJob; the old release's event comes
	// again. Its record fails the transaction's condition (superseded), and
	// it finishes only its own earlier work: the job it superseded, if any.
	const older = "sward-0000000000000000000000000000000000000000"
	db, jobs := &scriptedTable{current: []string{newJob}, supersedes: older, txErrs: []error{conditionFailed(1)}}, &cancels{}
	h, log := supersedeHandler(t, db, jobs)
	m := &release.Manifest{CommitID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ThingGroup: "fleet"}
	if _, err := h.supersede(context.Background(), h.Log, m, oldJob); err != nil {
		t.Fatal(err)
	}
	if len(jobs.jobs) != 1 || jobs.jobs[0] != older {
		t.Errorf("CancelJob calls %v, want only %s (never the current %s)", jobs.jobs, older, newJob)
	}
	if log.Find(t, "release does not become the thing group's current one: it was superseded or stopped already") == nil {
		t.Error("not logged")
	}

	// The current release's event again: no transaction, the cancel of
	// what it superseded repeated (harmless), nothing else.
	db, jobs = &scriptedTable{current: []string{newJob}, supersedes: oldJob}, &cancels{err: &iottypes.InvalidRequestException{Message: aws.String("canceled already")}}
	h, _ = supersedeHandler(t, db, jobs)
	if got, err := h.supersede(context.Background(), h.Log, newManifest, newJob); err != nil || got != oldJob || len(db.txs) != 0 {
		t.Errorf("supersede = %q, %v with %d transactions; want %s and none", got, err, len(db.txs), oldJob)
	}
	if len(jobs.jobs) != 1 || jobs.jobs[0] != oldJob {
		t.Errorf("CancelJob calls %v, want %s", jobs.jobs, oldJob)
	}
}

func TestALateRetryOfAReleaseAcceptedBeforeTheCurrentOneSupersedesItselfNotTheCurrent(t *testing.T) {
	// This release was accepted as the group's 3rd, its first invocation
	// failed before moving the pointer, and the 4th moved it meanwhile.
	const newer = "sward-cccccccccccccccccccccccccccccccccccccccc"
	db := &scriptedTable{current: []string{newer}, currentOrder: 4, mineOrder: 3, mineStatus: "IN_PROGRESS"}
	jobs := &cancels{}
	h, _ := supersedeHandler(t, db, jobs)
	m := &release.Manifest{CommitID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ThingGroup: "fleet"}
	if _, err := h.supersede(context.Background(), h.Log, m, oldJob); err != nil {
		t.Fatal(err)
	}
	if len(db.txs) != 0 {
		t.Errorf("%d transactions: the older release must not move the pointer", len(db.txs))
	}
	if len(jobs.jobs) != 1 || jobs.jobs[0] != oldJob {
		t.Errorf("CancelJob calls %v, want its own job %s only", jobs.jobs, oldJob)
	}
	if s := superseded(db); len(s) != 1 || s[0] != oldJob {
		t.Errorf("SUPERSEDED recorded for %v, want %s", s, oldJob)
	}
	if r := db.updates[0].ExpressionAttributeValues[":reason"].(*dbtypes.AttributeValueMemberS).Value; r != "superseded by release cccccccccccccccccccccccccccccccccccccccc" {
		t.Errorf("reason %q, want it to name the current release", r)
	}

	// Accepted after the current one: it moves the pointer.
	db = &scriptedTable{current: []string{newer}, currentOrder: 4, mineOrder: 5, mineStatus: "IN_PROGRESS"}
	jobs = &cancels{}
	h, _ = supersedeHandler(t, db, jobs)
	if got, err := h.supersede(context.Background(), h.Log, newManifest, newJob); err != nil || got != newer || len(db.txs) != 1 {
		t.Errorf("supersede = %q, %v with %d transactions; want it to supersede %s", got, err, len(db.txs), newer)
	}
}
