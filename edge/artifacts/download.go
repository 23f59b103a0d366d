package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sward-iot/sward/shared/recipe"
)

// Defaults of Options.
const (
	// DefaultConcurrency is how many artifacts download at once: enough
	// to keep a link busy past one TCP stream's window, few enough that a
	// small device's disk and memory are not thrashed.
	DefaultConcurrency = 3
	// DefaultAttempts is how many attempts in a row may fail without a
	// byte of progress before a download gives up: with the backoff below,
	// about three and a half minutes of outage.
	DefaultAttempts = 10
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between
	// attempts: a second rides out a blip, half a minute keeps a fleet
	// from hammering S3 after an outage.
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	// DefaultIdleTimeout fails an attempt that received no byte for this
	// long (a link that died without a reset), so it is retried.
	DefaultIdleTimeout = 30 * time.Second
)

// Options configures a Downloader.
type Options struct {
	// AWS is the SDK configuration: region (the device's; a bucket
	// elsewhere is found from S3's answer), credentials (the token
	// exchange service's), endpoint (AWS_ENDPOINT_URL_S3 or
	// AWS_ENDPOINT_URL through config.LoadDefaultConfig) and HTTP client.
	AWS aws.Config
	// PathStyle addresses buckets by path (a custom endpoint: moto,
	// MinIO); AWS itself by host name.
	PathStyle bool
	// Concurrency bounds the downloads in progress at once
	// (DefaultConcurrency); more callers wait for a slot.
	Concurrency int
	// Attempts, MinBackoff, MaxBackoff and IdleTimeout tune the retries
	// (DefaultAttempts, DefaultMinBackoff, DefaultMaxBackoff,
	// DefaultIdleTimeout).
	Attempts               int
	MinBackoff, MaxBackoff time.Duration
	IdleTimeout            time.Duration
	Logger                 *slog.Logger
}

// Downloader downloads S3 objects into files, resumably. It is safe for
// concurrent use.
type Downloader struct {
	opts  Options
	log   *slog.Logger
	slots chan struct{}

	mu      sync.Mutex
	regions map[string]string     // bucket → region, when S3 named one
	clients map[string]*s3.Client // by region
}

// New checks opts and fills in defaults. It starts nothing.
func New(opts Options) (*Downloader, error) {
	if opts.AWS.Region == "" {
		return nil, errors.New("artifact downloader: Options.AWS has no region: set awsRegion in the device configuration (or --region)")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Downloader{opts: opts, log: opts.Logger.With("service", "artifacts"),
		slots: make(chan struct{}, opts.Concurrency), regions: map[string]string{}, clients: map[string]*s3.Client{}}, nil
}

// Location is an S3 object.
type Location struct{ Bucket, Key string }

func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Key }

// ParseURI splits s3://bucket/key.
func ParseURI(uri string) (Location, error) {
	scheme, rest, _ := strings.Cut(uri, "://")
	if !strings.EqualFold(scheme, "s3") {
		return Location{}, fmt.Errorf("%q is not an s3://bucket/key URI", uri)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return Location{}, fmt.Errorf("%q names no object: write s3://bucket/path/to/file", uri)
	}
	return Location{Bucket: bucket, Key: key}, nil
}

// Size asks S3 for an object's size (HeadObject, its Content-Length),
// with the same retries as a download; 403 and 404 fail at once.
func (d *Downloader) Size(ctx context.Context, uri string) (int64, error) {
	loc, err := ParseURI(uri)
	if err != nil {
		return 0, err
	}
	var size int64
	err = d.retry(ctx, loc, func(ctx context.Context, c *s3.Client) (bool, error) {
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)})
		if err != nil {
			return false, err
		}
		size = aws.ToInt64(out.ContentLength)
		return false, nil
	})
	return size, err
}

// Partial reports how many bytes of path an earlier Download left in its
// partial file (0 when none, or when it does not belong to uri).
func (d *Downloader) Partial(uri, path string) int64 {
	p, ok := readPartial(path, uri)
	if !ok {
		return 0
	}
	return p.have
}

// Download fetches uri into path and returns the base64 SHA-256 of the
// complete file. It resumes what an earlier call (in this process or a
// previous one) left in path's partial file, reports the bytes it holds
// and the object's size to progress as they arrive (from the caller's
// goroutine of this call; progress may be nil), and waits for one of the
// Concurrency slots first. A file already at path with no download in
// progress (an earlier complete download) is taken as it is: its digest is
// returned without asking S3, for the caller to check.
func (d *Downloader) Download(ctx context.Context, uri, path string, progress func(done, total int64)) (string, error) {
	loc, err := ParseURI(uri)
	if err != nil {
		return "", err
	}
	if _, inProgress := readPartial(path, uri); !inProgress {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
			return recipe.FileDigest(path)
		}
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-d.slots }()
	restarts := 0
	for {
		err := d.retry(ctx, loc, func(ctx context.Context, c *s3.Client) (bool, error) {
			return d.attempt(ctx, c, loc, uri, path, progress)
		})
		if errors.Is(err, errObjectChanged) && restarts < maxRestarts {
			// The object changed under the partial file: start again.
			restarts++
			d.log.Info("artifact changed in S3 since the partial download, starting again", "uri", uri)
			removePartial(path)
			continue
		}
		if err != nil {
			return "", err
		}
		return recipe.FileDigest(path)
	}
}

// maxRestarts bounds how often one Download starts again because the
// object kept changing while it downloaded.
const maxRestarts = 3

// attempt is one GetObject: the rest of the object after what the partial
// file holds. It reports whether it wrote any byte.
func (d *Downloader) attempt(ctx context.Context, c *s3.Client, loc Location, uri, path string, progress func(done, total int64)) (bool, error) {
	p, resuming := readPartial(path, uri)
	if resuming && p.Size > 0 && p.have == p.Size {
		return false, finishPartial(path) // complete, the rename was interrupted
	}
	in := &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)}
	if resuming && p.have > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", p.have))
		in.IfMatch = aws.String(p.ETag)
	} else {
		p, resuming = partial{URI: uri}, false
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(d.opts.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	out, err := c.GetObject(ctx, in)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errIdle) {
			err = fmt.Errorf("%w: %v", errIdle, err)
		}
		return false, err
	}
	defer out.Body.Close()
	if resuming && aws.ToString(out.ContentRange) == "" {
		// The whole object came back, not the range: start the file again.
		p.have, resuming = 0, false
	}
	total := p.have + aws.ToInt64(out.ContentLength)
	if !resuming {
		p.ETag, p.Size, p.have = aws.ToString(out.ETag), total, 0
		if err := writePartial(path, p); err != nil {
			return false, err
		}
	}
	f, err := os.OpenFile(path+partialSuffix, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	done := p.have
	progress(done, total)
	buf := make([]byte, 64<<10)
	var copyErr error
	for done < total {
		n, rerr := out.Body.Read(buf)
		if n > 0 {
			idle.Reset(d.opts.IdleTimeout)
			if _, werr := f.Write(buf[:n]); werr != nil {
				copyErr = werr
				break
			}
			done += int64(n)
			progress(done, total)
		}
		if rerr != nil {
			if rerr != io.EOF || done < total {
				copyErr = rerr
			}
			break
		}
	}
	if err := f.Close(); err != nil && copyErr == nil {
		copyErr = err
	}
	wrote := done > p.have
	if copyErr != nil {
		if errors.Is(context.Cause(ctx), errIdle) {
			copyErr = errIdle
		}
		return wrote, fmt.Errorf("%s: after %d of %d bytes: %w", loc, done, total, copyErr)
	}
	if done < total {
		return wrote, fmt.Errorf("%s: the answer ended after %d of %d bytes: %w", loc, done, total, io.ErrUnexpectedEOF)
	}
	return wrote, finishPartial(path)
}

// client is the S3 client for a bucket: in the region S3 named for it, or
// the configured one.
func (d *Downloader) client(bucket string) (*s3.Client, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	region := d.regions[bucket]
	if region == "" {
		region = d.opts.AWS.Region
	}
	c := d.clients[region]
	if c == nil {
		c = s3.NewFromConfig(d.opts.AWS, func(o *s3.Options) {
			o.Region = region
			o.UsePathStyle = d.opts.PathStyle
			o.RetryMaxAttempts = 1 // retry does it, resuming where the last attempt ended
		})
		d.clients[region] = c
	}
	return c, region
}

func (d *Downloader) setRegion(bucket, region string) {
	d.mu.Lock()
	d.regions[bucket] = region
	d.mu.Unlock()
}
