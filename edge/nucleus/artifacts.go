package nucleus

import (
	"context"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/sward-iot/sward/edge/artifacts"
	"github.com/sward-iot/sward/edge/store"
)

// componentStore opens the component store bounded at
// Options.ComponentStoreMaxSizeBytes and, when the token exchange service
// runs, with a downloader for s3:// artifacts (edge/artifacts) that uses
// its credentials, as Greengrass's nucleus does (awsConfig). Without it,
// s3:// artifacts must be in the artifact folder: a device without cloud
// settings (make run) fails at once naming the missing file instead of
// retrying S3 with no credentials. It is built with the deployment engine,
// after the token exchange service. An AWS configuration the SDK cannot
// load (a broken ~/.aws/config) is logged and leaves the store without a
// downloader: the nucleus still runs what it has.
func (n *Nucleus) componentStore(ctx context.Context) *store.Store {
	o := store.Options{Root: n.opts.Root, MaxSizeBytes: n.opts.ComponentStoreMaxSizeBytes, Logger: n.opts.Logger}
	if n.tes == nil {
		return store.Open(o)
	}
	cfg, err := n.awsConfig(ctx)
	if err == nil {
		o.Downloader, err = artifacts.New(artifacts.Options{AWS: cfg, PathStyle: s3PathStyle(), Logger: n.opts.Logger})
	}
	if err != nil {
		n.log.Error("s3:// artifacts cannot be downloaded: they must be in the artifact folder (--artifacts)", "error", err)
		o.Downloader = nil
	}
	return store.Open(o)
}

// awsConfig is the AWS SDK configuration of the artifact downloads: the
// token exchange service's credentials when it runs, else the SDK's
// default chain; the cloud region (awsRegion, else --region); the
// networkProxy; and the endpoint the SDK reads from AWS_ENDPOINT_URL_S3
// or AWS_ENDPOINT_URL (moto, devcloud, MinIO), else AWS's, as for the
// stream exporters.
func (n *Nucleus) awsConfig(ctx context.Context) (aws.Config, error) {
	region := n.opts.Region
	if n.opts.Cloud.Region != "" {
		region = n.opts.Cloud.Region
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if n.tes != nil {
		opts = append(opts, config.WithCredentialsProvider(aws.NewCredentialsCache(n.tes)))
	}
	if client := n.proxiedHTTPClient(); client != nil {
		opts = append(opts, config.WithHTTPClient(client))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}

// proxiedHTTPClient is an HTTP client through the configuration file's
// networkProxy, nil without one.
func (n *Nucleus) proxiedHTTPClient() *http.Client {
	proxy, err := n.opts.Cloud.Proxy.HTTPProxy() // checked by Options.Cloud.Validate
	if err != nil || proxy == nil {
		return nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = proxy
	return &http.Client{Transport: tr}
}

// s3PathStyle reports whether S3 is a custom endpoint (AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_S3: MinIO, LocalStack, moto), which serves buckets by
// path; AWS itself serves them by host name.
func s3PathStyle() bool {
	return os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
}
