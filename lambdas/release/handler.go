package release

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sward-iot/sward/lambdas/internal/releasestore"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/release"
)

// Objects is the part of the S3 client the handler uses.
type Objects interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Jobs is the part of the IoT control plane client the handler uses.
type Jobs interface {
	DescribeThingGroup(ctx context.Context, in *iot.DescribeThingGroupInput, opts ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error)
	DescribeJob(ctx context.Context, in *iot.DescribeJobInput, opts ...func(*iot.Options)) (*iot.DescribeJobOutput, error)
	CreateJob(ctx context.Context, in *iot.CreateJobInput, opts ...func(*iot.Options)) (*iot.CreateJobOutput, error)
	CancelJob(ctx context.Context, in *iot.CancelJobInput, opts ...func(*iot.Options)) (*iot.CancelJobOutput, error)
}

// Releases is the part of the DynamoDB client the handler uses.
type Releases interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// artifactWorkers bounds the artifact checks in flight: enough to hide
// S3's per-request latency for a release of many artifacts, few enough to
// stay far from S3's request rate limits and the Lambda's memory.
const artifactWorkers = 8

// Handler handles S3 events for release manifests.
type Handler struct {
	S3  Objects
	IoT Jobs
	DB  Releases
	// Table is the releases table (SWARD_RELEASES_TABLE).
	Table string
	// ThingGroup is the one thing group this stack manages
	// (SWARD_THING_GROUP): a manifest naming another group is REJECTED
	// with that reason, before anything else is read. "" accepts any group
	// (IAM still decides).
	ThingGroup string
	Log        *slog.Logger
}

// Outcome is what Handle did with one manifest.
type Outcome struct {
	Key    string `json:"key"`
	JobID  string `json:"jobId,omitempty"`
	Status string `json:"status"` // CREATED, EXISTS, REJECTED, IGNORED
	Reason string `json:"reason,omitempty"`
	// Supersedes is the job this release replaced as its thing group's
	// current one, and canceled ("" for none).
	Supersedes string `json:"supersedes,omitempty"`
}

// The outcomes of one manifest.
const (
	Created  = "CREATED"  // the job was created
	Exists   = "EXISTS"   // the job was there already: a repeated event
	Rejected = "REJECTED" // the release is invalid; recorded, no job
	Ignored  = "IGNORED"  // not a manifest key, or a bad upload over an accepted release
)

// rejection is a reason to reject a release: the input's fault.
type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

func reject(format string, args ...any) error {
	return &rejection{reason: fmt.Sprintf(format, args...)}
}

// Handle processes every record of an S3 event. It fails (with
// lambdakit.ErrInternal, so Lambda retries) only when an AWS call failed;
// records done before the failure are done again harmlessly.
func (h *Handler) Handle(ctx context.Context, event events.S3Event) ([]Outcome, error) {
	var outcomes []Outcome
	var failed bool
	for _, rec := range event.Records {
		o, err := h.handleRecord(ctx, rec)
		if err != nil {
			failed = true
			continue
		}
		outcomes = append(outcomes, o)
	}
	if failed {
		return outcomes, lambdakit.ErrInternal
	}
	return outcomes, nil
}

func (h *Handler) handleRecord(ctx context.Context, rec events.S3EventRecord) (Outcome, error) {
	bucket := rec.S3.Bucket.Name
	key := rec.S3.Object.URLDecodedKey // the event's key is form-URL-encoded; UnmarshalJSON decodes it
	o := Outcome{Key: key}
	commit, err := release.ParseManifestKey(key)
	if err != nil || bucket == "" || !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
		o.Status = Ignored
		h.Log.WarnContext(ctx, "not a release manifest event; check the bucket notification's prefix and suffix", "bucket", bucket, "key", key, "eventName", rec.EventName)
		return o, nil
	}
	o.JobID = release.JobID(commit)
	log := h.Log.With("bucket", bucket, "key", key, "commit", commit, "jobId", o.JobID)

	err = h.accept(ctx, log, bucket, key, commit, &o)
	var rej *rejection
	if errors.As(err, &rej) {
		o.Status, o.Reason = Rejected, rej.reason
		recorded, err := h.recordRejection(ctx, bucket, key, commit, o.JobID, rej.reason)
		if err != nil {
			return o, lambdakit.Internal(ctx, log, "record rejected release", err, "table", h.Table)
		}
		if !recorded {
			o.Status = Ignored
			log.WarnContext(ctx, "release manifest rejected, but the release was already accepted; its record and job stay as they are", "reason", rej.reason)
			return o, nil
		}
		log.WarnContext(ctx, "release rejected", "reason", rej.reason)
		return o, nil
	}
	return o, err
}

// accept checks a release and creates its job. It returns a *rejection for
// a bad release and lambdakit.ErrInternal (logged) for a failed AWS call.
func (h *Handler) accept(ctx context.Context, log *slog.Logger, bucket, key, commit string, o *Outcome) error {
	data, err := h.read(ctx, bucket, key, release.MaxManifestSize)
	if err != nil {
		return h.readFailure(ctx, log, "read release manifest", key, err)
	}
	m, err := release.Decode(data)
	if err != nil {
		return reject("%s: %v", key, err)
	}
	if m.CommitID != commit {
		return reject("%s: commitId: is %s but the manifest is under releases/%s/; write each release's manifest under its own commit", key, m.CommitID, commit)
	}
	// Checked here, not left to IAM: the role may create jobs for the
	// managed group only, so another group would fail DescribeThingGroup
	// with AccessDenied, an outage to the handler, retried and then sent to
	// the failure queue, when it is the manifest's mistake.
	if h.ThingGroup != "" && m.ThingGroup != h.ThingGroup {
		return reject("%s: thingGroup: is %q, but this stack manages thing group %q only; release to %q, or deploy a stack for %q (context value thingGroupName)", key, m.ThingGroup, h.ThingGroup, h.ThingGroup, m.ThingGroup)
	}
	if err := h.checkRecipes(ctx, log, bucket, m); err != nil {
		return err
	}
	if err := h.checkArtifacts(ctx, log, bucket, m); err != nil {
		return err
	}
	doc, err := jobDocument(m, bucket)
	if err != nil {
		return reject("%s: the deployment document: %v", key, err)
	}
	if len(doc) > release.MaxJobDocumentSize {
		return reject("%s: the deployment document is %d bytes, over IoT Jobs' %d-byte limit; move configuration merges into the recipes' DefaultConfiguration", key, len(doc), release.MaxJobDocumentSize)
	}
	group, err := h.IoT.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String(m.ThingGroup)})
	var notFound *iottypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return reject("%s: thingGroup: thing group %q does not exist; create it, or release to an existing group", key, m.ThingGroup)
	}
	if err != nil || group.ThingGroupArn == nil {
		return lambdakit.Internal(ctx, log, "describe thing group", orMissing(err, "no ThingGroupArn"), "thingGroup", m.ThingGroup)
	}

	if err := h.recordAccepted(ctx, bucket, key, m); err != nil {
		return lambdakit.Internal(ctx, log, "record release", err, "table", h.Table)
	}
	return h.createJob(ctx, log, m, *group.ThingGroupArn, string(doc), o)
}

func (h *Handler) createJob(ctx context.Context, log *slog.Logger, m *release.Manifest, groupArn, doc string, o *Outcome) error {
	jobID := o.JobID
	// moto and IoT Core differ on a duplicate CreateJob (moto replaces the
	// job), so look first; ResourceAlreadyExists still covers a race.
	existing, err := h.IoT.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String(jobID)})
	var notFound *iottypes.ResourceNotFoundException
	switch {
	case err == nil && existing.Job != nil:
		o.Status = Exists
		log.InfoContext(ctx, "release job exists already", "jobStatus", existing.Job.Status)
		return h.supersedeInto(ctx, log, m, o)
	case err != nil && !errors.As(err, &notFound):
		return lambdakit.Internal(ctx, log, "describe job", err)
	}
	out, err := h.IoT.CreateJob(ctx, jobInput(m, jobID, groupArn, doc))
	var exists *iottypes.ResourceAlreadyExistsException
	var invalid *iottypes.InvalidRequestException
	switch {
	case errors.As(err, &exists):
		o.Status = Exists
		log.InfoContext(ctx, "release job exists already")
		return h.supersedeInto(ctx, log, m, o)
	case errors.As(err, &invalid):
		// IoT refused what the checks above let through: the release is
		// still the input's fault, but the release is recorded as
		// IN_PROGRESS, so turn it into REJECTED here.
		reason := fmt.Sprintf("IoT Jobs refused the job: %s", invalid.ErrorMessage())
		if err := h.setStatus(ctx, jobID, releasestore.Rejected, reason, releasestore.InProgress); err != nil {
			return lambdakit.Internal(ctx, log, "record rejected release", err)
		}
		o.Status, o.Reason = Rejected, reason
		log.WarnContext(ctx, "release rejected", "reason", reason)
		return nil
	case err != nil:
		return lambdakit.Internal(ctx, log, "create job", err)
	}
	if err := h.setJobArn(ctx, jobID, aws.ToString(out.JobArn)); err != nil {
		return lambdakit.Internal(ctx, log, "record job ARN", err)
	}
	o.Status = Created
	log.InfoContext(ctx, "release job created", "jobArn", aws.ToString(out.JobArn), "thingGroup", m.ThingGroup, "components", len(m.Components))
	return h.supersedeInto(ctx, log, m, o)
}

// supersedeInto makes the release its group's current one (supersede) and
// notes the job it replaced in o.
func (h *Handler) supersedeInto(ctx context.Context, log *slog.Logger, m *release.Manifest, o *Outcome) error {
	replaced, err := h.supersede(ctx, log, m, o.JobID)
	o.Supersedes = replaced
	return err
}

// jobDocument is the IoT job document of release m uploaded to bucket: its
// deployment document with recipeSource naming the release's recipe folder,
// from which devices download the recipes.
func jobDocument(m *release.Manifest, bucket string) ([]byte, error) {
	doc := m.Deployment()
	doc.RecipeSource = release.RecipeSource(bucket, m.CommitID)
	return doc.Encode()
}

// jobInput is the CreateJob request of a release.
func jobInput(m *release.Manifest, jobID, groupArn, doc string) *iot.CreateJobInput {
	in := &iot.CreateJobInput{
		JobId:           aws.String(jobID),
		Targets:         []string{groupArn},
		Document:        aws.String(doc),
		Description:     aws.String(fmt.Sprintf("Sward release of commit %s to %s", m.CommitID, m.ThingGroup)),
		TargetSelection: iottypes.TargetSelection(m.Selection()),
	}
	if r := m.Rollout; r != nil {
		rc := &iottypes.JobExecutionsRolloutConfig{}
		if r.MaximumPerMinute > 0 {
			rc.MaximumPerMinute = aws.Int32(r.MaximumPerMinute)
		}
		if e := r.ExponentialRate; e != nil {
			crit := &iottypes.RateIncreaseCriteria{}
			if n := e.RateIncreaseCriteria.NumberOfNotifiedThings; n > 0 {
				crit.NumberOfNotifiedThings = aws.Int32(n)
			}
			if n := e.RateIncreaseCriteria.NumberOfSucceededThings; n > 0 {
				crit.NumberOfSucceededThings = aws.Int32(n)
			}
			rc.ExponentialRate = &iottypes.ExponentialRolloutRate{
				BaseRatePerMinute:    aws.Int32(e.BaseRatePerMinute),
				IncrementFactor:      aws.Float64(e.IncrementFactor),
				RateIncreaseCriteria: crit,
			}
		}
		in.JobExecutionsRolloutConfig = rc
	}
	if a := m.Abort; a != nil {
		ac := &iottypes.AbortConfig{}
		for _, c := range a.Criteria {
			ac.CriteriaList = append(ac.CriteriaList, iottypes.AbortCriteria{
				Action:                    iottypes.AbortActionCancel,
				FailureType:               iottypes.JobExecutionFailureType(c.FailureType),
				ThresholdPercentage:       aws.Float64(c.ThresholdPercentage),
				MinNumberOfExecutedThings: aws.Int32(c.MinNumberOfExecutedThings),
			})
		}
		in.AbortConfig = ac
	}
	if t := m.InProgressTimeoutInMinutes; t > 0 {
		in.TimeoutConfig = &iottypes.TimeoutConfig{InProgressTimeoutInMinutes: aws.Int64(t)}
	}
	return in
}

// checkRecipes reads, verifies and parses every recipe of the release.
func (h *Handler) checkRecipes(ctx context.Context, log *slog.Logger, bucket string, m *release.Manifest) error {
	recipes := map[string]*recipe.Recipe{}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(m.Components)) {
		c := m.Components[name]
		data, err := h.read(ctx, bucket, c.Recipe.Key, recipe.MaxRecipeSize)
		if err != nil {
			err = h.readFailure(ctx, log, "read recipe", c.Recipe.Key, err)
			var rej *rejection
			if !errors.As(err, &rej) {
				return err
			}
			problems = append(problems, fmt.Sprintf("components[%q].recipe: %s", name, rej.reason))
			continue
		}
		if got := digest(data); got != c.Recipe.SHA256 {
			problems = append(problems, fmt.Sprintf("components[%q].recipe: %s has SHA-256 %s, the manifest says %s; publish again", name, c.Recipe.Key, got, c.Recipe.SHA256))
			continue
		}
		r, err := recipe.Parse(c.Recipe.Key, data)
		if err != nil {
			problems = append(problems, fmt.Sprintf("components[%q].recipe: %v", name, err))
			continue
		}
		recipes[name] = r
	}
	if len(problems) == 0 {
		if err := m.CheckRecipes(recipes, bucket); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return reject("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// checkArtifacts verifies every artifact's existence and digest, a few at
// a time.
func (h *Handler) checkArtifacts(ctx context.Context, log *slog.Logger, bucket string, m *release.Manifest) error {
	type job struct {
		path string
		obj  release.Object
	}
	var jobs []job
	for _, name := range slices.Sorted(maps.Keys(m.Components)) {
		for i, a := range m.Components[name].Artifacts {
			jobs = append(jobs, job{fmt.Sprintf("components[%q].artifacts[%d]", name, i), a})
		}
	}
	results := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(artifactWorkers, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				results[i] = h.verifyArtifact(ctx, log, bucket, jobs[i].obj)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	var problems []string
	for i, err := range results {
		var rej *rejection
		switch {
		case errors.As(err, &rej):
			problems = append(problems, jobs[i].path+": "+rej.reason)
		case err != nil:
			return err
		}
	}
	if len(problems) > 0 {
		return reject("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func (h *Handler) verifyArtifact(ctx context.Context, log *slog.Logger, bucket string, a release.Object) error {
	head, err := h.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(bucket),
		Key:          aws.String(a.Key),
		ChecksumMode: s3types.ChecksumModeEnabled,
	})
	if err != nil {
		return h.readFailure(ctx, log, "head artifact", a.Key, err)
	}
	if sum := aws.ToString(head.ChecksumSHA256); sum != "" && head.ChecksumType != s3types.ChecksumTypeComposite && !strings.Contains(sum, "-") {
		if sum != a.SHA256 {
			return reject("%s has SHA-256 %s (S3 checksum), the manifest says %s; publish again", a.Key, sum, a.SHA256)
		}
		return nil
	}
	out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key)})
	if err != nil {
		return h.readFailure(ctx, log, "read artifact", a.Key, err)
	}
	defer out.Body.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, out.Body); err != nil {
		return lambdakit.Internal(ctx, log, "read artifact", err, "artifact", a.Key)
	}
	if sum := base64.StdEncoding.EncodeToString(hash.Sum(nil)); sum != a.SHA256 {
		return reject("%s has SHA-256 %s, the manifest says %s; publish again", a.Key, sum, a.SHA256)
	}
	return nil
}

// read returns an object's content, refusing more than limit bytes.
func (h *Handler) read(ctx context.Context, bucket, key string, limit int) ([]byte, error) {
	out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, reject("%s is larger than the %d-byte limit", key, limit)
	}
	return data, nil
}

// readFailure turns a failed read of key into a rejection when the object
// is missing or too large, and into a logged internal error otherwise.
func (h *Handler) readFailure(ctx context.Context, log *slog.Logger, what, key string, err error) error {
	var rej *rejection
	if errors.As(err, &rej) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return reject("%s does not exist in the bucket; upload it (sward publish does) before the manifest", key)
		}
	}
	return lambdakit.Internal(ctx, log, what, err, "object", key)
}

// recordRejection records a rejected release unless the release was
// accepted already; it reports whether it recorded.
func (h *Handler) recordRejection(ctx context.Context, bucket, key, commit, jobID, reason string) (bool, error) {
	_, err := h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(h.Table),
		Key:                 releasestore.Key(jobID),
		UpdateExpression:    aws.String("SET #commit = :commit, #bucket = :bucket, #key = :key, #status = :rejected, #reason = :reason, #updated = :now"),
		ConditionExpression: aws.String("attribute_not_exists(#status) OR #status = :rejected"),
		ExpressionAttributeNames: map[string]string{
			"#commit": releasestore.AttrCommitID, "#bucket": releasestore.AttrBucket, "#key": releasestore.AttrManifestKey,
			"#status": releasestore.AttrStatus, "#reason": releasestore.AttrReason, "#updated": releasestore.AttrUpdatedAt,
		},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{
			":commit": str(commit), ":bucket": str(bucket), ":key": str(key),
			":rejected": str(string(releasestore.Rejected)), ":reason": str(releasestore.Truncate(reason)), ":now": str(h.now()),
		},
	})
	var conflict *dbtypes.ConditionalCheckFailedException
	if errors.As(err, &conflict) {
		return false, nil
	}
	return err == nil, err
}

// recordAccepted records the release as IN_PROGRESS, unless it is already
// recorded as accepted (IN_PROGRESS, CANCELED or SUPERSEDED): a repeated
// event.
func (h *Handler) recordAccepted(ctx context.Context, bucket, key string, m *release.Manifest) error {
	criteria := []release.AbortCriterion{}
	if m.Abort != nil {
		criteria = m.Abort.Criteria
	}
	abort, err := json.Marshal(criteria)
	if err != nil {
		return err
	}
	order, err := h.claimOrder(ctx, m.ThingGroup)
	if err != nil {
		return err
	}
	_, err = h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(h.Table),
		Key:                 releasestore.Key(release.JobID(m.CommitID)),
		UpdateExpression:    aws.String("SET #commit = :commit, #group = :group, #bucket = :bucket, #key = :key, #status = :progress, #abort = :abort, #order = :order, #updated = :now REMOVE #reason"),
		ConditionExpression: aws.String("attribute_not_exists(#status) OR #status = :rejected"),
		ExpressionAttributeNames: map[string]string{
			"#commit": releasestore.AttrCommitID, "#group": releasestore.AttrThingGroup, "#bucket": releasestore.AttrBucket,
			"#key": releasestore.AttrManifestKey, "#status": releasestore.AttrStatus, "#abort": releasestore.AttrAbort,
			"#updated": releasestore.AttrUpdatedAt, "#reason": releasestore.AttrReason, "#order": releasestore.AttrOrder,
		},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{
			":commit": str(m.CommitID), ":group": str(m.ThingGroup), ":bucket": str(bucket), ":key": str(key),
			":progress": str(string(releasestore.InProgress)), ":rejected": str(string(releasestore.Rejected)),
			":abort": str(string(abort)), ":order": &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(order, 10)}, ":now": str(h.now()),
		},
	})
	var conflict *dbtypes.ConditionalCheckFailedException
	if errors.As(err, &conflict) {
		return nil
	}
	return err
}

func (h *Handler) setStatus(ctx context.Context, jobID string, to releasestore.Status, reason string, from releasestore.Status) error {
	_, err := h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.Table),
		Key:                       releasestore.Key(jobID),
		UpdateExpression:          aws.String("SET #status = :to, #reason = :reason, #updated = :now"),
		ConditionExpression:       aws.String("#status = :from"),
		ExpressionAttributeNames:  map[string]string{"#status": releasestore.AttrStatus, "#reason": releasestore.AttrReason, "#updated": releasestore.AttrUpdatedAt},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":to": str(string(to)), ":from": str(string(from)), ":reason": str(releasestore.Truncate(reason)), ":now": str(h.now())},
	})
	var conflict *dbtypes.ConditionalCheckFailedException
	if errors.As(err, &conflict) {
		return nil
	}
	return err
}

func (h *Handler) setJobArn(ctx context.Context, jobID, arn string) error {
	_, err := h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.Table),
		Key:                       releasestore.Key(jobID),
		UpdateExpression:          aws.String("SET #arn = :arn"),
		ExpressionAttributeNames:  map[string]string{"#arn": releasestore.AttrJobArn},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":arn": str(arn)},
	})
	return err
}

func (h *Handler) now() string { return time.Now().UTC().Format(time.RFC3339) }

func str(s string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: s} }

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func orMissing(err error, what string) error {
	if err != nil {
		return err
	}
	return errors.New(what)
}
