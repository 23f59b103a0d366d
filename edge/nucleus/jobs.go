package nucleus

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/edge/jobs"
	"github.com/sward-iot/sward/edge/service"
)

// jobsService takes the cloud's deployments (edge/jobs) when the IoT Core
// link runs; if it cannot start (IoT Core refuses the job topics), that is
// logged as an error and the nucleus runs without it. It comes after the
// deployment engine and the control API have started, so a job's
// deployment queues behind the start-up's recovery. Its recipes are read from S3 with the token
// exchange service's credentials (none without it: a job with recipes in
// S3 is then rejected, naming the configuration), through a client built
// at the first download, so that a start pays nothing for it.
func (n *Nucleus) jobsService() service.Service {
	var js *jobs.Service
	return service.Func{ServiceName: "jobs",
		OnStart: func(ctx context.Context) (err error) {
			if n.link == nil {
				return nil
			}
			o := jobs.Options{ThingName: n.opts.ThingName, Conn: n.nc, JetStream: n.js, Link: n.link, Engine: n.engine,
				TempDir: filepath.Join(n.opts.Root, dirWork), Logger: n.opts.Logger}
			if n.tes != nil {
				o.Objects = &lazyS3{build: n.jobsObjects}
			}
			if js, err = jobs.New(o); err == nil {
				err = js.Start(ctx)
			}
			if err != nil {
				// The device keeps running what it runs, without cloud
				// deployments (an IoT policy without the jobs topics).
				n.log.Error("cloud deployments not started: the device takes no IoT jobs until this is fixed and the nucleus restarted", "error", err)
				js = nil
			}
			return nil
		},
		OnShutdown: func(ctx context.Context) error {
			if js == nil {
				return nil
			}
			return js.Shutdown(ctx)
		},
	}
}

// jobsObjects is the S3 client the jobs service reads recipes with: the
// token exchange service's credentials, the region, the networkProxy, and
// the endpoint the SDK reads from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL
// (devcloud, moto), addressed by path there, as the stream exporters do.
func (n *Nucleus) jobsObjects(ctx context.Context) (*s3.Client, error) {
	cfg, err := n.awsConfig(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = s3PathStyle() }), nil
}

// lazyS3 builds its S3 client at the first GetObject.
type lazyS3 struct {
	build func(context.Context) (*s3.Client, error)
	once  sync.Once
	c     *s3.Client
	err   error
}

func (l *lazyS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	l.once.Do(func() { l.c, l.err = l.build(ctx) })
	if l.err != nil {
		return nil, fmt.Errorf("the AWS configuration for S3: %w", l.err)
	}
	return l.c.GetObject(ctx, in, opts...)
}
