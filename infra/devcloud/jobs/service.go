package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Targets resolves CreateJob's targets against the IoT control plane
// (moto's things and thing groups).
type Targets interface {
	// ThingExists reports whether the thing is registered.
	ThingExists(ctx context.Context, thing string) (bool, error)
	// ThingsInGroup lists the group's things, its child groups' included;
	// ok is false when there is no such group.
	ThingsInGroup(ctx context.Context, group string) (things []string, ok bool, err error)
}

// Documents reads a job document from CreateJob's documentSource (an S3
// object URL).
type Documents interface {
	Fetch(ctx context.Context, url string) ([]byte, error)
}

// Options configure a Service.
type Options struct {
	// Dir holds the jobs (DIR/jobs).
	Dir string
	// Region and AccountID make the ARNs.
	Region, AccountID string
	Targets           Targets
	Documents         Documents
	// Publish sends a notification to the MQTT subscribers allowed to
	// receive it (notify, notify-next).
	Publish func(topic string, payload []byte)
	// Reply sends an answer to the requesting client only, as IoT Core
	// does for the jobs API (nil: answers are published like
	// notifications).
	Reply func(clientID, topic string, payload []byte) error
	// RefreshInterval is how often CONTINUOUS jobs look for things added
	// to their groups besides Refresh calls (default 5 s: group changes
	// made behind devcloud's back, straight to moto, show up this late).
	RefreshInterval time.Duration
	// Now defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is devcloud's IoT Jobs: the job model, its files, the device
// MQTT API and the control plane's job operations.
type Service struct {
	opts  Options
	log   *slog.Logger
	store *store

	// mu guards everything below; each request runs under it, files
	// written before it is answered.
	mu    sync.Mutex
	jobs  map[string]*Job
	execs map[string]map[string]*Execution // jobId → thing → execution
	seq   int64
	// next is the $next execution last announced per thing and namespace
	// ("thing\x00ns" → jobId), so notify-next goes out only when it changes.
	next map[string]string
	// outbox holds the notifications of the change under way; unlock
	// sends them after mu is released (and after the request's answer).
	outbox []outMsg
	// pubMu keeps notifications in the order of the changes: taken before
	// mu is released, held while they go out.
	pubMu sync.Mutex

	refresh chan struct{}
	stop    chan struct{}
	done    sync.WaitGroup
}

// New loads the jobs kept in opts.Dir.
func New(opts Options) (*Service, error) {
	if opts.Dir == "" || opts.Targets == nil || opts.Publish == nil {
		return nil, errors.New("jobs: Dir, Targets and Publish are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = 5 * time.Second
	}
	s := &Service{
		opts: opts, log: opts.Logger.With("service", "jobs"), store: &store{dir: opts.Dir},
		jobs: map[string]*Job{}, execs: map[string]map[string]*Execution{}, next: map[string]string{},
		refresh: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	jobs, execs, err := s.store.load()
	if err != nil {
		return nil, fmt.Errorf("load jobs from %s: %w", opts.Dir, err)
	}
	for _, j := range jobs {
		s.jobs[j.JobID] = j
		s.execs[j.JobID] = map[string]*Execution{}
	}
	for _, e := range execs {
		if s.execs[e.JobID] == nil {
			continue
		}
		s.execs[e.JobID][e.ThingName] = e
		s.seq = max(s.seq, e.Seq)
	}
	for _, e := range execs {
		key := nextKey(e.ThingName, e.NamespaceID)
		if n := s.nextExecution(e.ThingName, e.NamespaceID); n != nil {
			s.next[key] = n.JobID
		}
	}
	return s, nil
}

// Start runs the timers (step and in-progress timeouts) and the refresh
// of CONTINUOUS jobs' targets in the background.
func (s *Service) Start() {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		tick := time.NewTicker(time.Second) // timers are whole minutes: a second is precise enough
		defer tick.Stop()
		lastRefresh := time.Now()
		s.refreshTargets()
		for {
			select {
			case <-s.stop:
				return
			case <-s.refresh:
				s.refreshTargets()
				lastRefresh = time.Now()
			case <-tick.C:
				s.ExpireTimers()
				if time.Since(lastRefresh) >= s.opts.RefreshInterval {
					s.refreshTargets()
					lastRefresh = time.Now()
				}
			}
		}
	}()
}

// Refresh asks for CONTINUOUS jobs' groups to be read again soon: the
// control plane calls it after a request that may change group
// membership.
func (s *Service) Refresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Shutdown stops the background work.
func (s *Service) Shutdown() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.done.Wait()
}

type outMsg struct {
	topic   string
	payload []byte
}

// unlock releases mu and sends the notifications the change caused.
func (s *Service) unlock() { s.unlockAfter(nil) }

// unlockAfter releases mu, runs first (a request's answer), then sends
// the notifications, in the order of the changes.
func (s *Service) unlockAfter(first func()) {
	out := s.outbox
	s.outbox = nil
	s.pubMu.Lock()
	s.mu.Unlock()
	defer s.pubMu.Unlock()
	if first != nil {
		first()
	}
	for _, m := range out {
		s.opts.Publish(m.topic, m.payload)
	}
}

func nextKey(thing, ns string) string { return thing + "\x00" + ns }

func (s *Service) now() time.Time { return s.opts.Now() }

func (s *Service) thingArn(thing string) string {
	return "arn:aws:iot:" + s.opts.Region + ":" + s.opts.AccountID + ":thing/" + thing
}

func (s *Service) jobArn(id string) string {
	return "arn:aws:iot:" + s.opts.Region + ":" + s.opts.AccountID + ":job/" + id
}

// pending returns the thing's QUEUED and IN_PROGRESS executions in the
// namespace, IN_PROGRESS first, each group in creation order.
func (s *Service) pending(thing, ns string) []*Execution {
	var out []*Execution
	for _, byThing := range s.execs {
		if e := byThing[thing]; e != nil && e.NamespaceID == ns && !e.Status.Terminal() {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Execution) int {
		if (a.Status == InProgress) != (b.Status == InProgress) {
			if a.Status == InProgress {
				return -1
			}
			return 1
		}
		return int(a.Seq - b.Seq)
	})
	return out
}

func (s *Service) nextExecution(thing, ns string) *Execution {
	if p := s.pending(thing, ns); len(p) > 0 {
		return p[0]
	}
	return nil
}

// changed publishes notify for the thing's namespace and, when the next
// pending execution is another one than last announced, notify-next.
// Called under mu after a change was written.
func (s *Service) changed(thing, ns string) {
	ts := s.now().Unix()
	p := s.pending(thing, ns)
	lists := map[Status][]summary{}
	for _, e := range p {
		if len(lists[e.Status]) < MaxNotifyListEntries {
			lists[e.Status] = append(lists[e.Status], s.summary(e))
		}
	}
	suffix := ""
	if ns != "" {
		suffix = "-namespace-" + ns
	}
	prefix := "$aws/things/" + thing + "/jobs/"
	s.publish(prefix+"notify"+suffix, map[string]any{"timestamp": ts, "jobs": lists})
	key := nextKey(thing, ns)
	var nextID string
	if len(p) > 0 {
		nextID = p[0].JobID
	}
	if nextID == s.next[key] {
		return
	}
	if nextID == "" {
		delete(s.next, key)
		s.publish(prefix+"notify-next"+suffix, map[string]any{"timestamp": ts})
		return
	}
	s.next[key] = nextID
	s.publish(prefix+"notify-next"+suffix, map[string]any{"timestamp": ts, "execution": s.executionData(p[0], true)})
}

func (s *Service) publish(topic string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode notification", "topic", topic, "error", err)
		return
	}
	s.outbox = append(s.outbox, outMsg{topic, b})
}

// summary is the MQTT API's JobExecutionSummary.
type summary struct {
	JobID           string `json:"jobId"`
	QueuedAt        int64  `json:"queuedAt"`
	StartedAt       int64  `json:"startedAt,omitempty"`
	LastUpdatedAt   int64  `json:"lastUpdatedAt"`
	VersionNumber   int64  `json:"versionNumber"`
	ExecutionNumber int64  `json:"executionNumber"`
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (s *Service) summary(e *Execution) summary {
	return summary{JobID: e.JobID, QueuedAt: unix(e.QueuedAt), StartedAt: unix(e.StartedAt), LastUpdatedAt: unix(e.LastUpdatedAt),
		VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber}
}

// executionData is the MQTT API's JobExecution; the job document is a JSON
// object over MQTT.
type executionData struct {
	JobID           string            `json:"jobId"`
	ThingName       string            `json:"thingName"`
	JobDocument     json.RawMessage   `json:"jobDocument,omitempty"`
	Status          Status            `json:"status"`
	StatusDetails   map[string]string `json:"statusDetails,omitempty"`
	QueuedAt        int64             `json:"queuedAt"`
	StartedAt       int64             `json:"startedAt,omitempty"`
	LastUpdatedAt   int64             `json:"lastUpdatedAt"`
	VersionNumber   int64             `json:"versionNumber"`
	ExecutionNumber int64             `json:"executionNumber"`
}

func (s *Service) executionData(e *Execution, withDocument bool) executionData {
	d := executionData{JobID: e.JobID, ThingName: e.ThingName, Status: e.Status, StatusDetails: e.StatusDetails,
		QueuedAt: unix(e.QueuedAt), StartedAt: unix(e.StartedAt), LastUpdatedAt: unix(e.LastUpdatedAt),
		VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber}
	if withDocument {
		if j := s.jobs[e.JobID]; j != nil {
			d.JobDocument = json.RawMessage(j.Document)
		}
	}
	return d
}

// executionState is the MQTT API's JobExecutionState.
type executionState struct {
	Status        Status            `json:"status"`
	StatusDetails map[string]string `json:"statusDetails,omitempty"`
	VersionNumber int64             `json:"versionNumber"`
}

func stateOf(e *Execution) *executionState {
	return &executionState{Status: e.Status, StatusDetails: e.StatusDetails, VersionNumber: e.VersionNumber}
}

// queue creates a QUEUED execution of job j for thing, numbered one past
// a previous execution (REMOVED when its thing left the group). Under mu.
func (s *Service) queue(j *Job, thing string, now time.Time) (*Execution, error) {
	number := int64(1)
	if prev := s.execs[j.JobID][thing]; prev != nil {
		number = prev.ExecutionNumber + 1
	}
	s.seq++
	e := &Execution{JobID: j.JobID, ThingName: thing, NamespaceID: j.NamespaceID, Status: Queued,
		QueuedAt: now, LastUpdatedAt: now, VersionNumber: 1, ExecutionNumber: number, Seq: s.seq}
	if err := s.store.putExecution(e); err != nil {
		return nil, err
	}
	s.execs[j.JobID][thing] = e
	return e, nil
}

// setStatus moves e to status (the caller checked the transition), writes
// it and announces it. Under mu.
func (s *Service) setStatus(e *Execution, status Status, now time.Time) error {
	prev := *e
	e.Status = status
	e.VersionNumber++
	e.LastUpdatedAt = now
	if status == InProgress && prev.Status == Queued {
		e.StartedAt = now
		if j := s.jobs[e.JobID]; j != nil && j.TimeoutConfig != nil && j.TimeoutConfig.InProgressTimeoutInMinutes > 0 {
			e.InProgressDeadline = now.Add(time.Duration(j.TimeoutConfig.InProgressTimeoutInMinutes) * time.Minute)
		}
	}
	if status.Terminal() {
		e.StepDeadline, e.InProgressDeadline = time.Time{}, time.Time{}
	}
	if err := s.store.putExecution(e); err != nil {
		*e = prev
		return err
	}
	s.log.Info("job execution", "job", e.JobID, "thing", e.ThingName, "status", e.Status, "from", prev.Status, "version", e.VersionNumber)
	if prev.Status != status {
		s.changed(e.ThingName, e.NamespaceID)
	}
	if status.Terminal() {
		s.afterTerminal(e.JobID, now)
	}
	return nil
}

// afterTerminal applies the job's abort criteria and completes a SNAPSHOT
// job whose executions have all ended. Under mu.
func (s *Service) afterTerminal(jobID string, now time.Time) {
	j := s.jobs[jobID]
	if j == nil || j.Status != JobInProgress {
		return
	}
	execs := s.executionsOf(jobID)
	if reason := abortReason(j.AbortConfig, execs); reason != "" {
		s.log.Warn("job aborted", "job", jobID, "reason", reason)
		if err := s.cancelJob(j, false, "", reason, now); err != nil {
			s.log.Error("abort job", "job", jobID, "error", err)
		}
		return
	}
	s.completeIfDone(j, now)
}

func (s *Service) completeIfDone(j *Job, now time.Time) {
	if j.TargetSelection != Snapshot || j.Status != JobInProgress {
		return
	}
	for _, e := range s.execs[j.JobID] {
		if !e.Status.Terminal() {
			return
		}
	}
	j.Status, j.CompletedAt, j.LastUpdatedAt = JobCompleted, now, now
	if err := s.store.putJob(j); err != nil {
		s.log.Error("complete job", "job", j.JobID, "error", err)
		return
	}
	s.log.Info("job completed", "job", j.JobID)
}

// executionsOf returns the job's executions by thing name.
func (s *Service) executionsOf(jobID string) []*Execution {
	var out []*Execution
	for _, e := range s.execs[jobID] {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Execution) int { return strings.Compare(a.ThingName, b.ThingName) })
	return out
}

// cancelJob cancels the QUEUED executions (and with force the IN_PROGRESS
// ones) and marks the job CANCELED. Under mu.
func (s *Service) cancelJob(j *Job, force bool, reasonCode, comment string, now time.Time) error {
	prev := *j
	j.Status, j.ForceCanceled, j.LastUpdatedAt = JobCanceled, j.ForceCanceled || force, now
	if reasonCode != "" {
		j.ReasonCode = reasonCode
	}
	if comment != "" {
		j.Comment = comment
	}
	if err := s.store.putJob(j); err != nil {
		*j = prev
		return err
	}
	for _, e := range s.executionsOf(j.JobID) {
		if e.Status == Queued || (force && e.Status == InProgress) {
			e.ForceCanceled = e.Status == InProgress
			if err := s.setStatus(e, Canceled, now); err != nil {
				return err
			}
		}
	}
	s.log.Info("job canceled", "job", j.JobID, "force", force, "reasonCode", reasonCode)
	return nil
}

// ExpireTimers ends the IN_PROGRESS executions whose step or in-progress
// timer ran out as TIMED_OUT.
func (s *Service) ExpireTimers() {
	s.mu.Lock()
	defer s.unlock()
	now := s.now()
	for _, byThing := range s.execs {
		for _, e := range byThing {
			if d := e.deadline(); e.Status == InProgress && !d.IsZero() && !now.Before(d) {
				if err := s.setStatus(e, TimedOut, now); err != nil {
					s.log.Error("time out job execution", "job", e.JobID, "thing", e.ThingName, "error", err)
				}
			}
		}
	}
}

// refreshTargets gives the things that joined a CONTINUOUS job's groups an
// execution, and marks QUEUED executions of things that left REMOVED.
func (s *Service) refreshTargets() {
	s.mu.Lock()
	type target struct {
		id     string
		groups []string
		things []string
	}
	var todo []target
	for _, j := range s.jobs {
		if j.TargetSelection != Continuous || j.Status != JobInProgress {
			continue
		}
		t := target{id: j.JobID}
		for _, arn := range j.Targets {
			kind, name, _ := parseTargetArn(arn)
			if kind == "thinggroup" {
				t.groups = append(t.groups, name)
			} else {
				t.things = append(t.things, name)
			}
		}
		if len(t.groups) > 0 {
			todo = append(todo, t)
		}
	}
	s.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range todo {
		want := map[string]bool{}
		for _, th := range t.things {
			want[th] = true
		}
		complete := true
		for _, g := range t.groups {
			things, ok, err := s.opts.Targets.ThingsInGroup(ctx, g)
			if err != nil {
				s.log.Warn("read thing group of a continuous job", "job", t.id, "group", g, "error", err)
				complete = false
				continue
			}
			if !ok {
				continue
			}
			for _, th := range things {
				want[th] = true
			}
		}
		s.applyTargets(t.id, want, complete)
	}
}

func (s *Service) applyTargets(jobID string, want map[string]bool, complete bool) {
	s.mu.Lock()
	defer s.unlock()
	j := s.jobs[jobID]
	if j == nil || j.Status != JobInProgress {
		return
	}
	now := s.now()
	for _, th := range sortedKeys(want) {
		if x := s.execs[jobID][th]; x != nil && x.Status != Removed {
			continue // a thing that left and came back gets a new execution
		}
		e, err := s.queue(j, th, now)
		if err != nil {
			s.log.Error("queue job execution", "job", jobID, "thing", th, "error", err)
			continue
		}
		s.log.Info("job execution queued for a thing that joined the group", "job", jobID, "thing", th)
		s.changed(e.ThingName, e.NamespaceID)
	}
	if !complete {
		return // a group could not be read: remove nothing on partial knowledge
	}
	for _, e := range s.executionsOf(jobID) {
		if e.Status == Queued && !want[e.ThingName] {
			if err := s.setStatus(e, Removed, now); err != nil {
				s.log.Error("remove job execution", "job", jobID, "thing", e.ThingName, "error", err)
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// parseTargetArn splits arn:aws:iot:<region>:<account>:(thing|thinggroup)/<name>.
func parseTargetArn(arn string) (kind, name string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iot" {
		return "", "", fmt.Errorf("target %q is not an IoT thing or thing group ARN (arn:aws:iot:<region>:<account>:thing/<name> or …:thinggroup/<name>)", arn)
	}
	kind, name, ok := strings.Cut(parts[5], "/")
	if !ok || (kind != "thing" && kind != "thinggroup") || !thingNamePattern.MatchString(name) {
		return "", "", fmt.Errorf("target %q is not an IoT thing or thing group ARN (arn:aws:iot:<region>:<account>:thing/<name> or …:thinggroup/<name>)", arn)
	}
	return kind, name, nil
}

// JobView is what `devcloud status` shows of a job.
type JobView struct {
	JobID           string          `json:"jobId"`
	Status          JobStatus       `json:"status"`
	TargetSelection string          `json:"targetSelection"`
	Namespace       string          `json:"namespaceId,omitempty"`
	CreatedAt       time.Time       `json:"createdAt"`
	Executions      []ExecutionView `json:"executions"`
}

// ExecutionView is what `devcloud status` shows of an execution.
type ExecutionView struct {
	ThingName     string    `json:"thingName"`
	Status        Status    `json:"status"`
	VersionNumber int64     `json:"versionNumber"`
	LastUpdatedAt time.Time `json:"lastUpdatedAt"`
}

// View lists the jobs, oldest first, with their executions.
func (s *Service) View() []JobView {
	s.mu.Lock()
	defer s.unlock()
	out := []JobView{}
	for _, j := range s.jobs {
		v := JobView{JobID: j.JobID, Status: j.Status, TargetSelection: j.TargetSelection, Namespace: j.NamespaceID, CreatedAt: j.CreatedAt, Executions: []ExecutionView{}}
		for _, e := range s.executionsOf(j.JobID) {
			v.Executions = append(v.Executions, ExecutionView{ThingName: e.ThingName, Status: e.Status, VersionNumber: e.VersionNumber, LastUpdatedAt: e.LastUpdatedAt})
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b JobView) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}
