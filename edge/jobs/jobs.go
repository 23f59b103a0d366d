package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/internal/kvbound"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/service"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/topics"
)

// Defaults.
const (
	// DefaultBucket is the KV bucket of the job↔deployment mapping.
	DefaultBucket = "sward_jobs"
	// DefaultReplyTimeout bounds the wait for IoT Jobs' answer to a
	// request; without one the service waits for the link to connect again.
	DefaultReplyTimeout = 15 * time.Second

	// DefaultRetryDelay is the pause before a job that failed for a reason
	// other than the link (S3 unreachable, no answer) is tried again.
	DefaultRetryDelay = 15 * time.Second

	// DefaultProgressInterval spaces the download-progress updates of one
	// execution: a large download is visible in the console, and a fleet
	// of devices stays far below IoT Jobs' UpdateJobExecution quota.
	DefaultProgressInterval = 10 * time.Second

	// DetailDownloadProgress is the statusDetails key of an IN_PROGRESS
	// update that carries the artifact download's progress, "<bytes>/<total>
	// bytes (<percent>%)" (Sward's; Greengrass reports no progress).
	DetailDownloadProgress = "download-progress"

	// bucketMaxBytes bounds the mapping bucket: an entry is a few hundred
	// bytes and one is kept per job.
	bucketMaxBytes = 4 << 20
)

// Link is the part of the IoT Core connection (edge/iotcore) the service
// uses.
type Link interface {
	Publish(ctx context.Context, m iotcore.Message) error
	Subscribe(ctx context.Context, filter string, qos byte, h iotcore.Handler) (func(context.Context) error, error)
}

// Engine is the part of the deployment engine (edge/deployment) the
// service uses.
type Engine interface {
	Submit(req deployment.Request) (ddoc.Status, error)
	Get(id string) (ddoc.Status, error)
	Wait(ctx context.Context, id string) (ddoc.Status, error)
	Cancel(id, reason string) error
}

// Objects reads the recipes from S3: *s3.Client, with the token exchange
// service's credentials, is one.
type Objects interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Options configure the service.
type Options struct {
	// ThingName names the job topics. Required.
	ThingName string
	// Conn is the nucleus's bus connection: the link's state changes come
	// on topics.CloudLinkStateSubject. Required.
	Conn *nats.Conn
	// JetStream holds the job↔deployment mapping. Required.
	JetStream jetstream.JetStream
	// Bucket is the mapping's KV bucket; empty is DefaultBucket.
	Bucket string
	// Link carries the jobs requests. Required.
	Link Link
	// Engine applies the deployments. Required.
	Engine Engine
	// Objects downloads the recipes a document's recipeSource names; nil
	// (no token exchange service) rejects such documents, naming the
	// configuration that is missing.
	Objects Objects
	// TempDir is where a job's recipes are staged for the engine; empty is
	// os.TempDir().
	TempDir string
	// ReplyTimeout bounds the wait for an answer; zero is
	// DefaultReplyTimeout.
	ReplyTimeout time.Duration
	// RetryDelay is the pause before a job that failed online is tried
	// again; zero is DefaultRetryDelay.
	RetryDelay time.Duration
	// ProgressInterval is how often, at most, an execution whose
	// deployment is downloading artifacts sends an IN_PROGRESS update with
	// the download's progress in statusDetails; zero is
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

// Service is the IoT Jobs client.
type Service struct {
	opts Options
	log  *slog.Logger
	kv   jetstream.KeyValue

	pending iotcore.Pending[reply] // requests waiting for IoT Jobs' answer

	kick chan struct{}
	// next carries the job id of each notify-next ("" when nothing is
	// pending), the latest only, to the deployment being waited for.
	next   chan string
	unsubs []func(context.Context) error
	sub    *nats.Subscription
	worker service.Worker
}

// New validates opts. It subscribes to nothing and starts nothing.
func New(opts Options) (*Service, error) {
	var errs []error
	if err := topics.ValidateThingName(opts.ThingName); err != nil {
		errs = append(errs, fmt.Errorf("jobs: thing name: %w", err))
	}
	for name, ok := range map[string]bool{"Conn (the nucleus's bus connection)": opts.Conn != nil,
		"JetStream": opts.JetStream != nil, "Link (the service runs only with an IoT Core link)": opts.Link != nil,
		"Engine": opts.Engine != nil} {
		if !ok {
			errs = append(errs, fmt.Errorf("jobs: Options.%s is required", name))
		}
	}
	if opts.ReplyTimeout < 0 || opts.RetryDelay < 0 {
		errs = append(errs, fmt.Errorf("jobs: reply timeout %s and retry delay %s must not be negative", opts.ReplyTimeout, opts.RetryDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.ReplyTimeout == 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	if opts.RetryDelay == 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opts: opts, log: opts.Logger.With("service", "jobs"),
		kick: make(chan struct{}, 1), next: make(chan string, 1)}, nil
}

// Name is the service's name in the nucleus's list.
func (s *Service) Name() string { return "jobs" }

// Start opens the mapping bucket, subscribes to the job topics and starts
// taking jobs.
func (s *Service) Start(ctx context.Context) error {
	kv, err := kvbound.Open(ctx, s.opts.JetStream, jetstream.KeyValueConfig{
		Bucket: s.opts.Bucket, Description: "Sward IoT job executions and their deployments",
		History: 1, MaxBytes: bucketMaxBytes, Storage: jetstream.FileStorage,
	}, s.log)
	if err != nil {
		return fmt.Errorf("jobs: mapping bucket %s: %w", s.opts.Bucket, err)
	}
	s.kv = kv
	base := "$aws/things/" + s.opts.ThingName + "/jobs/"
	for _, filter := range []string{base + "notify-next", base + "start-next/+", base + "+/update/+"} {
		unsub, err := s.opts.Link.Subscribe(ctx, filter, 1, s.onMessage)
		if err != nil {
			s.unsubscribe()
			return fmt.Errorf("jobs: subscribe to %s: %w", filter, err)
		}
		s.unsubs = append(s.unsubs, unsub)
	}
	s.sub, err = s.opts.Conn.Subscribe(topics.CloudLinkStateSubject, s.onLinkState)
	if err != nil {
		s.unsubscribe()
		return fmt.Errorf("jobs: subscribe to %s: %w", topics.CloudLinkStateSubject, err)
	}
	s.worker.Go(s.run)
	s.poke()
	return nil
}

// Shutdown stops taking jobs and waits for the service's goroutine. A
// deployment being applied goes on in the engine; the next start reports
// it.
func (s *Service) Shutdown(ctx context.Context) error {
	s.unsubscribe()
	return s.worker.Stop(ctx, "jobs")
}

func (s *Service) unsubscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, u := range s.unsubs {
		_ = u(ctx)
	}
	s.unsubs = nil
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
		s.sub = nil
	}
}

func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) onLinkState(m *nats.Msg) {
	var st struct {
		Connected bool `json:"connected"`
	}
	if json.Unmarshal(m.Data, &st) == nil && st.Connected {
		s.poke()
	}
}

// reply is IoT Jobs' answer to one request.
type reply struct {
	accepted bool
	data     []byte
}

// onMessage takes what IoT Jobs sends: a notify-next asks for start-next,
// an answer goes to the request that carries its clientToken.
func (s *Service) onMessage(m iotcore.Message) {
	base := "$aws/things/" + s.opts.ThingName + "/jobs/"
	if m.Topic == base+"notify-next" {
		var n struct {
			Execution *struct {
				JobID string `json:"jobId"`
			} `json:"execution"`
		}
		if json.Unmarshal(m.Payload, &n) == nil {
			id := ""
			if n.Execution != nil {
				id = n.Execution.JobID
			}
			select { // the latest only
			case <-s.next:
			default:
			}
			select {
			case s.next <- id:
			default:
			}
		}
		s.poke()
		return
	}
	var t struct {
		ClientToken string `json:"clientToken"`
	}
	if json.Unmarshal(m.Payload, &t) != nil || t.ClientToken == "" {
		return
	}
	s.pending.Answer(t.ClientToken, reply{accepted: strings.HasSuffix(m.Topic, "/accepted"), data: m.Payload})
}

// errNoReply: IoT Jobs did not answer within ReplyTimeout (offline).
var errNoReply = errors.New("no answer from IoT Jobs")

// request publishes req on topic with a new clientToken and waits for the
// answer. qos 1 goes through the link's spool (updates: they leave in
// order, even across an outage); qos 0 is sent only while connected
// (start-next: asked again on every connection, so never worth keeping).
func (s *Service) request(ctx context.Context, topic string, req map[string]any, qos byte) (reply, error) {
	token, ch, done := s.pending.Add()
	defer done()
	req["clientToken"] = token
	data, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	if err := s.opts.Link.Publish(ctx, iotcore.Message{Topic: topic, Payload: data, QoS: qos}); err != nil {
		return reply{}, fmt.Errorf("publish on %s: %w", topic, err)
	}
	wait := time.NewTimer(s.opts.ReplyTimeout)
	defer wait.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-wait.C:
		return reply{}, fmt.Errorf("%w on %s within %s", errNoReply, topic, s.opts.ReplyTimeout)
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

// run takes jobs one at a time whenever it is poked.
func (s *Service) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		for ctx.Err() == nil {
			exec, err := s.startNext(ctx)
			if err == nil && exec == nil {
				break // nothing pending
			}
			job := ""
			if err == nil {
				job = exec.JobID
				err = s.handle(ctx, exec)
			}
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, iotcore.ErrOffline) || errors.Is(err, iotcore.ErrNotStarted) {
				// The link's next connection pokes.
				s.log.Info("jobs wait for the link to connect", "job", job, "error", err)
				break
			}
			// Online but failing (no answer, S3 unreachable, credentials
			// not served yet): try again later.
			s.log.Warn("job not taken; trying again", "job", job, "in", s.opts.RetryDelay.String(), "error", err)
			time.AfterFunc(s.opts.RetryDelay, s.poke)
			break
		}
	}
}
