// Package s3events delivers the template's S3 → Lambda notifications.
// moto's S3 cannot call out, so devcloud fronts it: this package is an
// HTTP reverse proxy to moto that clients use as their S3 endpoint
// (devcloud.json's endpoints.s3, the Lambdas' AWS_ENDPOINT_URL_S3). Every
// request goes to moto unchanged; when moto answers 200 to a request that
// creates an object — PutObject (ObjectCreated:Put), CopyObject (:Copy),
// CompleteMultipartUpload (:CompleteMultipartUpload) — the proxy reads the
// object's size, ETag and version with a HeadObject and, for each of the
// bucket's LambdaConfigurations whose event and key filter match, queues an
// asynchronous invocation of the function with the S3 event as AWS sends
// it (event version 2.1, the key form-URL-encoded, a sequencer that
// grows per bucket). Objects written to moto directly, not through the
// proxy, notify nothing.
//
// Requests must be path-style (http://host:port/bucket/key), as the AWS
// SDKs send them to an IP-address endpoint, or virtual-hosted on
// <bucket>.localhost.
package s3events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud/template"
)

// Invoker queues an asynchronous Lambda invocation (lambdas.Service).
type Invoker interface {
	InvokeAsync(ref string, payload []byte, source string) (string, error)
}

// Options configure a Proxy.
type Options struct {
	// Listen is the proxy's address (127.0.0.1:0: a free port), unless
	// Listener is given.
	Listen   string
	Listener net.Listener
	// AWS reaches moto (its BaseEndpoint is moto's URL).
	AWS     aws.Config
	Buckets []template.Bucket
	Lambda  Invoker
	// AccountID is the owner in the events' identities.
	AccountID string
	// Requests is the request log; Logger devcloud's own.
	Requests, Logger *slog.Logger
}

// Proxy is the S3 endpoint in front of moto.
type Proxy struct {
	opts   Options
	s3     *s3.Client
	srv    *http.Server
	ln     net.Listener
	mu     sync.Mutex
	seq    map[string]uint64 // per bucket
	wg     sync.WaitGroup
	notify map[string][]notification // by bucket name
}

type notification struct {
	id string
	template.BucketNotification
}

// New checks the options; Start listens.
func New(opts Options) (*Proxy, error) {
	if opts.AWS.BaseEndpoint == nil || opts.Lambda == nil {
		return nil, errors.New("s3events: the moto endpoint and the Lambda invoker are required")
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Requests == nil {
		opts.Requests = slog.New(slog.DiscardHandler)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{opts: opts, seq: map[string]uint64{}, notify: map[string][]notification{},
		s3: s3.NewFromConfig(opts.AWS, func(o *s3.Options) { o.UsePathStyle = true })}
	for _, b := range opts.Buckets {
		for i, n := range b.Notifications {
			if !strings.HasPrefix(n.Event, "s3:ObjectCreated:") {
				return nil, fmt.Errorf("bucket %s (%s): notification event %s: devcloud delivers s3:ObjectCreated:* events only", b.Name, b.LogicalID, n.Event)
			}
			// CloudFormation generates an Id when the template gives none.
			p.notify[b.Name] = append(p.notify[b.Name], notification{id: fmt.Sprintf("%s-lambda-%d", b.LogicalID, i), BucketNotification: n})
		}
	}
	return p, nil
}

// Start listens and serves in the background.
func (p *Proxy) Start() error {
	target, err := url.Parse(*p.opts.AWS.BaseEndpoint)
	if err != nil {
		return fmt.Errorf("s3events: moto endpoint: %w", err)
	}
	if p.ln = p.opts.Listener; p.ln == nil {
		if p.ln, err = net.Listen("tcp", p.opts.Listen); err != nil {
			return fmt.Errorf("s3 proxy listen %s: %w", p.opts.Listen, err)
		}
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = p.observe
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.opts.Logger.Error("s3 proxy", "error", err)
		}
	}()
	return nil
}

// URL is the endpoint clients use for S3, http://host:port.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Shutdown stops serving and waits for the notifications in flight.
func (p *Proxy) Shutdown() {
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.srv.Shutdown(ctx)
		cancel()
	}
	p.wg.Wait()
}

// observe looks at moto's answer to each request for a created object.
func (p *Proxy) observe(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	req := resp.Request
	bucket, key := bucketAndKey(req)
	if bucket == "" || key == "" || len(p.notify[bucket]) == 0 {
		return nil
	}
	q := req.URL.Query()
	subresource := false // a PUT on a part or a property of the object, not the object
	for _, k := range []string{"partNumber", "uploadId", "tagging", "acl", "retention", "legal-hold", "restore"} {
		subresource = subresource || q.Has(k)
	}
	var event string
	switch {
	case req.Method == http.MethodPut && subresource:
		return nil
	case req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") != "":
		event = "ObjectCreated:Copy"
	case req.Method == http.MethodPut:
		event = "ObjectCreated:Put"
	case req.Method == http.MethodPost && q.Has("uploadId"):
		event = "ObjectCreated:CompleteMultipartUpload"
	default: // parts, tagging, ACLs, reads: no event
		return nil
	}
	source := req.RemoteAddr
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.deliver(bucket, key, event, source, resp.Header.Get("X-Amz-Request-Id"))
	}()
	return nil
}

// bucketAndKey reads a path-style or <bucket>.localhost request.
func bucketAndKey(req *http.Request) (string, string) {
	path := strings.TrimPrefix(req.URL.Path, "/")
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil {
		host = req.Host
	}
	if b, ok := strings.CutSuffix(host, ".localhost"); ok && b != "" {
		return b, path
	}
	bucket, key, _ := strings.Cut(path, "/")
	return bucket, key
}

func (p *Proxy) deliver(bucket, key, eventName, sourceIP, requestID string) {
	var matched []notification
	for _, n := range p.notify[bucket] {
		if (n.Event == "s3:ObjectCreated:*" || n.Event == "s3:"+eventName) && strings.HasPrefix(key, n.Prefix) && strings.HasSuffix(key, n.Suffix) {
			matched = append(matched, n)
		}
	}
	if len(matched) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	head, err := p.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		p.opts.Requests.Error("s3 notification: the new object is not readable", "bucket", bucket, "key", key, "error", err)
		return
	}
	p.mu.Lock()
	p.seq[bucket]++
	seq := p.seq[bucket]
	p.mu.Unlock()
	for _, n := range matched {
		rec := record{
			EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: p.opts.AWS.Region,
			EventTime: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), EventName: eventName,
			UserIdentity:      identity{PrincipalID: "AWS:" + p.opts.AccountID},
			RequestParameters: map[string]string{"sourceIPAddress": sourceIP},
			ResponseElements:  map[string]string{"x-amz-request-id": requestID, "x-amz-id-2": requestID},
			S3: entity{
				SchemaVersion: "1.0", ConfigurationID: n.id,
				Bucket: bucketEntity{Name: bucket, OwnerIdentity: identity{PrincipalID: p.opts.AccountID}, Arn: "arn:aws:s3:::" + bucket},
				Object: object{
					Key: EncodeKey(key), Size: aws.ToInt64(head.ContentLength), ETag: strings.Trim(aws.ToString(head.ETag), `"`),
					VersionID: aws.ToString(head.VersionId), Sequencer: fmt.Sprintf("%016X", seq),
				},
			},
		}
		payload, _ := json.Marshal(event{Records: []record{rec}})
		if _, err := p.opts.Lambda.InvokeAsync(n.FunctionArn, payload, "s3 "+bucket); err != nil {
			// S3 drops an event whose function cannot be invoked.
			p.opts.Requests.Warn("s3 notification", "bucket", bucket, "key", key, "event", eventName, "function", n.FunctionArn, "result", "error", "error", err)
			continue
		}
		p.opts.Requests.Info("s3 notification", "bucket", bucket, "key", key, "event", eventName, "function", n.FunctionArn, "result", "queued")
	}
}

// EncodeKey is an object key as S3 events carry it: form-URL-encoded
// (a space is +) with / kept.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// The S3 event notification, as S3 sends it to Lambda.
type event struct {
	Records []record `json:"Records"`
}

type record struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      identity          `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                entity            `json:"s3"`
}

type identity struct {
	PrincipalID string `json:"principalId"`
}

type entity struct {
	SchemaVersion   string       `json:"s3SchemaVersion"`
	ConfigurationID string       `json:"configurationId"`
	Bucket          bucketEntity `json:"bucket"`
	Object          object       `json:"object"`
}

type bucketEntity struct {
	Name          string   `json:"name"`
	OwnerIdentity identity `json:"ownerIdentity"`
	Arn           string   `json:"arn"`
}

type object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"eTag"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer"`
}
