package artifacts

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrNotFound means S3 answered 404: the bucket or the key does not
// exist (or the device may not list the bucket, which S3 answers the same).
var ErrNotFound = errors.New("artifact not found in S3")

// ErrAccessDenied means S3 answered 403: the device's role may not read
// the object.
var ErrAccessDenied = errors.New("access to the artifact denied by S3")

// ErrRefused means S3 answered another client error (4xx) that asking
// again cannot fix.
var ErrRefused = errors.New("artifact request refused by S3")

var (
	// errObjectChanged: the object is not the one the partial file holds
	// bytes of (412 to If-Match), or the partial file is longer than the
	// object (416). The download starts again.
	errObjectChanged = errors.New("the object changed since the partial download")
	errIdle          = errors.New("no data received within the idle timeout")
)

// retry runs op against the bucket's client until it succeeds, fails for
// good, or fails Attempts times in a row without progress (op reports
// whether it made any), waiting a capped exponential backoff with jitter
// between attempts.
func (d *Downloader) retry(ctx context.Context, loc Location, op func(context.Context, *s3.Client) (bool, error)) error {
	failures, redirects := 0, 0
	for {
		c, region := d.client(loc.Bucket)
		progressed, err := op(ctx, c)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if other := bucketRegion(err); other != "" && other != region && redirects < 2 {
			redirects++
			d.log.Info("artifact bucket is in another region", "bucket", loc.Bucket, "region", other)
			d.setRegion(loc.Bucket, other)
			continue
		}
		if err := permanent(loc, err); err != nil {
			return err
		}
		if progressed {
			failures = 0
		}
		failures++
		if failures >= d.opts.Attempts {
			return fmt.Errorf("%s: %d attempts in a row failed, the last: %w", loc, failures, err)
		}
		wait := backoff(failures, d.opts.MinBackoff, d.opts.MaxBackoff)
		d.log.Warn("artifact download failed, retrying", "uri", loc.String(), "attempt", failures, "in", wait.String(), "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// backoff is the wait before attempt n+1: uniformly random between half
// of minWait and minWait·2^(n-1) capped at maxWait, so devices that lost
// the link together do not come back together.
func backoff(n int, minWait, maxWait time.Duration) time.Duration {
	ceiling := maxWait
	if n < 32 {
		ceiling = min(maxWait, minWait<<(n-1))
	}
	return minWait/2 + rand.N(ceiling-minWait/2+1)
}

// permanent returns err as the error a download ends with when asking
// again cannot help (nil when it may), or errObjectChanged.
func permanent(loc Location, err error) error {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, errObjectChanged) {
			return err
		}
		return nil // no answer: the network, credentials, a timeout
	}
	switch status := re.HTTPStatusCode(); {
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %s: bucket %q has no object %q (404): upload the artifact (sward publish) or fix the recipe's URI",
			ErrNotFound, loc, loc.Bucket, loc.Key)
	case status == http.StatusForbidden:
		return fmt.Errorf("%w: %s: the device may not read object %q of bucket %q (403): give the token exchange role (the role alias's role) s3:GetObject on arn:aws:s3:::%s/%s, or check the bucket policy",
			ErrAccessDenied, loc, loc.Key, loc.Bucket, loc.Bucket, loc.Key)
	case status == http.StatusPreconditionFailed, status == http.StatusRequestedRangeNotSatisfiable:
		return errObjectChanged
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return nil
	case status >= 400:
		return fmt.Errorf("%w: %s: %v", ErrRefused, loc, err)
	}
	return nil
}

// bucketRegion is the region S3 names for the bucket in an error answer
// (a 301 or 400 sent to the wrong region), or "".
func bucketRegion(err error) string {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	return re.Response.Header.Get("x-amz-bucket-region")
}
