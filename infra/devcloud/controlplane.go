package devcloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud/jobs"
	"github.com/sward-iot/sward/infra/devcloud/status"
)

// StatusPath is where the control-plane endpoint serves `devcloud status`'s
// report.
const StatusPath = "/devcloud/status"

// startControlPlane starts the jobs service and devcloud's IoT control-plane
// endpoint: the job operations served by jobs, the status report, and
// every other request passed to moto unchanged.
func (s *Server) startControlPlane(motoURL string) error {
	target, err := url.Parse(motoURL)
	if err != nil {
		return fmt.Errorf("moto endpoint %q: %w", motoURL, err)
	}
	cfg := s.info.AWSConfig()
	s.jobs, err = jobs.New(jobs.Options{
		Dir:    filepath.Join(s.opts.DataDir, "jobs"),
		Region: s.opts.Region, AccountID: motoAccountID,
		Targets:   &motoTargets{client: iot.NewFromConfig(cfg)},
		Documents: &s3Documents{client: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })},
		Publish: func(topic string, payload []byte) {
			if err := s.iot.Publish(topic, payload, 1, false); err != nil {
				s.log.Error("publish job notification", "topic", topic, "error", err)
			}
		},
		Reply:  s.iot.Reply,
		Logger: s.opts.Logger,
	})
	if err != nil {
		return err
	}
	if err := s.iot.HandleRequest(jobs.Filter, s.jobs.HandleMQTT); err != nil {
		return err
	}
	s.jobs.Start()

	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ModifyResponse: func(resp *http.Response) error {
			// A thing joining or leaving a group may concern a CONTINUOUS job.
			if r := resp.Request; r.Method != http.MethodGet && (strings.HasPrefix(r.URL.Path, "/thing-groups") || strings.HasPrefix(r.URL.Path, "/things/")) {
				s.jobs.Refresh()
			}
			return nil
		},
	}
	mux := http.NewServeMux()
	s.jobs.RegisterHTTP(mux)
	s.registerProvisioning(mux, iot.NewFromConfig(cfg))
	mux.Handle("GET "+StatusPath, status.Handler(s.statusSources()))
	mux.Handle("/", proxy)
	ln, err := net.Listen("tcp", s.opts.IoTListen)
	if err != nil {
		return fmt.Errorf("control plane listen %s: %w", s.opts.IoTListen, err)
	}
	s.controlHTTP = &http.Server{Handler: s.logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.controlHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("control plane", "error", err)
		}
	}()
	s.info.Endpoints.IoT = "http://" + ln.Addr().String()
	s.info.Endpoints.Status = s.info.Endpoints.IoT + StatusPath
	return nil
}

// logRequests writes each control-plane request to devcloud's log: the
// operation (method and path), the answer's status and, for an error, the
// error type AWS's SDK reads.
func (s *Server) logRequests(next http.Handler) http.Handler {
	log := s.log.With("service", "iot-control-plane")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == StatusPath {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", time.Since(start).Milliseconds()}
		if e := rec.Header().Get("X-Amzn-ErrorType"); e != "" {
			attrs = append(attrs, "error", e)
		}
		log.Info("request", attrs...)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) shutdownControlPlane() {
	if s.controlHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.controlHTTP.Shutdown(ctx)
		cancel()
	}
	if s.jobs != nil {
		s.jobs.Shutdown()
	}
}

// SetRuleCounter lets the rules engine report its counts to
// `devcloud status`, at any time.
func (s *Server) SetRuleCounter(rc status.RuleCounter) { s.ruleCounter.Store(&rc) }

// RuleCounts is the counts of the rules engine set by SetRuleCounter, nil
// before.
func (s *Server) RuleCounts() []status.Rule {
	if rc := s.ruleCounter.Load(); rc != nil && *rc != nil {
		return (*rc).RuleCounts()
	}
	return nil
}

func (s *Server) statusSources() status.Sources {
	return status.Sources{
		Things: func() ([]status.Thing, error) {
			things, err := loadThings(s.opts.DataDir)
			if err != nil {
				return nil, err
			}
			out := make([]status.Thing, 0, len(things))
			for _, th := range things {
				out = append(out, status.Thing{Name: th.ThingName, Groups: th.ThingGroups, CertificateStatus: th.CertificateStatus})
			}
			return out, nil
		},
		Connections: func() []status.Connection {
			var out []status.Connection
			for _, c := range s.iot.Connections() {
				out = append(out, status.Connection{ClientID: c.ClientID, ThingName: c.ThingName, Remote: c.Remote, Since: c.Since})
			}
			return out
		},
		Jobs: func() []status.Job {
			var out []status.Job
			for _, j := range s.jobs.View() {
				sj := status.Job{JobID: j.JobID, Status: string(j.Status), TargetSelection: j.TargetSelection, Executions: []status.Execution{}}
				for _, e := range j.Executions {
					sj.Executions = append(sj.Executions, status.Execution{ThingName: e.ThingName, Status: string(e.Status), VersionNumber: e.VersionNumber, LastUpdatedAt: e.LastUpdatedAt})
				}
				out = append(out, sj)
			}
			return out
		},
		Rules: s,
	}
}

// motoTargets resolves job targets against moto's IoT control plane.
type motoTargets struct{ client *iot.Client }

func (m *motoTargets) ThingExists(ctx context.Context, thing string) (bool, error) {
	_, err := m.client.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(thing)})
	var notFound *iottypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return false, nil
	}
	return err == nil, err
}

func (m *motoTargets) ThingsInGroup(ctx context.Context, group string) ([]string, bool, error) {
	var things []string
	p := iot.NewListThingsInThingGroupPaginator(m.client, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String(group), Recursive: true})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		var notFound *iottypes.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		things = append(things, out.Things...)
	}
	return things, true, nil
}

// s3Documents reads job documents from moto's S3.
type s3Documents struct{ client *s3.Client }

// Fetch reads an S3 object URL: https://s3[.<region>].amazonaws.com/<bucket>/<key>
// or https://<bucket>.s3[.<region>].amazonaws.com/<key> (and s3://<bucket>/<key>).
func (d *s3Documents) Fetch(ctx context.Context, raw string) ([]byte, error) {
	bucket, key, err := parseS3URL(raw)
	if err != nil {
		return nil, err
	}
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, 1<<20))
}

func parseS3URL(raw string) (bucket, key string, err error) {
	u, err := url.Parse(raw)
	bad := fmt.Errorf("%q is not an S3 object URL (https://s3.amazonaws.com/<bucket>/<key> or https://<bucket>.s3.amazonaws.com/<key>)", raw)
	if err != nil {
		return "", "", bad
	}
	path := strings.TrimPrefix(u.Path, "/")
	switch {
	case u.Scheme == "s3":
		bucket, key = u.Host, path
	case u.Scheme == "https" && strings.HasPrefix(u.Host, "s3.") && strings.HasSuffix(u.Host, ".amazonaws.com"):
		bucket, key, _ = strings.Cut(path, "/")
	case u.Scheme == "https" && strings.Contains(u.Host, ".s3.") && strings.HasSuffix(u.Host, ".amazonaws.com"):
		bucket, _, _ = strings.Cut(u.Host, ".s3.")
		key = path
	}
	if bucket == "" || key == "" {
		return "", "", bad
	}
	return bucket, key, nil
}
