package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/shared/deploymentstatus"
	"github.com/sward-iot/sward/shared/release"
)

// Jobs is the part of the IoT control plane release status reads
// (*iot.Client).
type Jobs interface {
	DescribeJob(context.Context, *iot.DescribeJobInput, ...func(*iot.Options)) (*iot.DescribeJobOutput, error)
	ListJobExecutionsForJob(context.Context, *iot.ListJobExecutionsForJobInput, ...func(*iot.Options)) (*iot.ListJobExecutionsForJobOutput, error)
}

// ReleaseStatus is how a release is doing: its record in the releases
// table and its IoT job.
type ReleaseStatus struct {
	Commit, JobID string
	// Recorded: the release Lambda has recorded the release. False while
	// the Lambda has not run yet (or the manifest never reached it).
	Recorded   bool
	Status     release.Status
	Reason     string
	ThingGroup string
	UpdatedAt  string
	// Devices counts the devices in each deployment status, as the
	// deployment-events Lambda counts their reports.
	Devices map[deploymentstatus.Status]int64
	// JobStatus is the IoT job's status ("" when there is no job).
	JobStatus string
	// Executions are the job's executions, one per device, sorted by thing.
	Executions []Execution
}

// Execution is one device's execution of a release job.
type Execution struct {
	Thing, Status string
}

// maxExecutionPages bounds the executions listed (250 a page): enough for
// a status line per device of a test fleet; the counts cover the rest.
const maxExecutionPages = 4

// Status reads the release of commit from the releases table and its job.
func Status(ctx context.Context, table Table, tableName string, jobs Jobs, commit string) (*ReleaseStatus, error) {
	if !validCommit(commit) {
		return nil, fmt.Errorf("%q is not a full commit id; give the 40 or 64 hex digits (git rev-parse <commit>)", commit)
	}
	st := &ReleaseStatus{Commit: commit, JobID: release.JobID(commit), Devices: map[deploymentstatus.Status]int64{}}
	item, err := table.GetItem(ctx, tableName, release.AttrJobID, st.JobID)
	if err != nil {
		return nil, fmt.Errorf("read release %s from table %s: %w", st.JobID, tableName, err)
	}
	if len(item) > 0 {
		st.Recorded = true
		st.Status = release.Status(item.S(release.AttrStatus))
		st.Reason = item.S(release.AttrReason)
		st.ThingGroup = item.S(release.AttrThingGroup)
		st.UpdatedAt = item.S(release.AttrUpdatedAt)
		for _, s := range deploymentstatus.Statuses {
			if n := item.N(release.CountAttr(s)); n != "" {
				v, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("release %s: attribute %s: %w", st.JobID, release.CountAttr(s), err)
				}
				st.Devices[s] = v
			}
		}
	}
	job, err := jobs.DescribeJob(ctx, &iot.DescribeJobInput{JobId: &st.JobID})
	var notFound *iottypes.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("describe job %s: %w", st.JobID, err)
	}
	if job.Job != nil {
		st.JobStatus = string(job.Job.Status)
	}
	var next *string
	for range maxExecutionPages {
		page, err := jobs.ListJobExecutionsForJob(ctx, &iot.ListJobExecutionsForJobInput{JobId: &st.JobID, NextToken: next})
		if err != nil {
			return nil, fmt.Errorf("list the executions of job %s: %w", st.JobID, err)
		}
		for _, e := range page.ExecutionSummaries {
			thing := aws.ToString(e.ThingArn)
			thing = thing[strings.LastIndexByte(thing, '/')+1:]
			status := ""
			if e.JobExecutionSummary != nil {
				status = string(e.JobExecutionSummary.Status)
			}
			st.Executions = append(st.Executions, Execution{Thing: thing, Status: status})
		}
		if next = page.NextToken; next == nil || *next == "" {
			break
		}
	}
	slices.SortFunc(st.Executions, func(a, b Execution) int { return strings.Compare(a.Thing, b.Thing) })
	return st, nil
}

// Print writes st for a person.
func (st *ReleaseStatus) Print(w io.Writer) {
	fmt.Fprintf(w, "release  %s\njob      %s\n", st.Commit, st.JobID)
	if !st.Recorded {
		fmt.Fprintf(w, "status   not recorded yet: the release Lambda has not processed the manifest (check its log, or that the manifest was uploaded)\n")
	} else {
		fmt.Fprintf(w, "status   %s", st.Status)
		if st.UpdatedAt != "" {
			fmt.Fprintf(w, " (updated %s)", st.UpdatedAt)
		}
		fmt.Fprintln(w)
		if st.ThingGroup != "" {
			fmt.Fprintf(w, "group    %s\n", st.ThingGroup)
		}
		if st.Reason != "" {
			fmt.Fprintf(w, "reason   %s\n", strings.ReplaceAll(st.Reason, "\n", "\n         "))
		}
		var counts []string
		for _, s := range deploymentstatus.Statuses {
			if n := st.Devices[s]; n > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", n, s))
			}
		}
		if len(counts) > 0 {
			fmt.Fprintf(w, "devices  %s\n", strings.Join(counts, ", "))
		}
	}
	if st.JobStatus != "" {
		fmt.Fprintf(w, "iot job  %s\n", st.JobStatus)
		for _, e := range st.Executions {
			fmt.Fprintf(w, "  %-30s %s\n", e.Thing, e.Status)
		}
	}
}

// ErrRejected is returned by WaitRecorded for a release the release Lambda
// rejected.
var ErrRejected = errors.New("the release was rejected")

// WaitRecorded reads the release of commit every interval until the
// release Lambda has recorded it, and returns its status; a REJECTED
// release is returned with ErrRejected. It gives up when ctx ends.
func WaitRecorded(ctx context.Context, table Table, tableName string, jobs Jobs, commit string, interval time.Duration) (*ReleaseStatus, error) {
	notYet := func(err error) error {
		return fmt.Errorf("the release Lambda has not recorded release %s yet (%w): check that the manifest was uploaded and the Lambda's log", commit, err)
	}
	for {
		st, err := Status(ctx, table, tableName, jobs, commit)
		if err != nil {
			if ctx.Err() != nil {
				return nil, notYet(ctx.Err())
			}
			return nil, err
		}
		if st.Recorded {
			if st.Status == release.Rejected {
				return st, fmt.Errorf("%w: %s", ErrRejected, st.Reason)
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, notYet(ctx.Err())
		case <-time.After(interval):
		}
	}
}
