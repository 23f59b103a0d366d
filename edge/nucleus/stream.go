package nucleus

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/stream"
	"github.com/sward-iot/sward/edge/stream/export"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// StatusStream receives one JSON record per export attempt of every
// stream (Greengrass's status stream): bounded, oldest dropped, readable
// with ReadMessages under a sward.StreamManager grant.
const StatusStream = "SwardExportStatus"

// statusStreamBytes bounds the status stream: a record is about 300 bytes,
// so 1 MiB keeps the last few thousand attempts, hours of history at the
// default batch intervals.
const statusStreamBytes = 1 << 20

// startStreams starts the stream manager with the exporters and its admin
// API, and makes sure the status stream exists.
func (n *Nucleus) startStreams(ctx context.Context, js jetstream.JetStream) error {
	// Two exports upload at once: enough to keep a cellular link busy,
	// few enough that a backlog of many streams cannot crowd the device.
	slots := export.NewSlots(2)
	pathStyle := s3PathStyle()
	// With the token exchange service the exporters use its credentials,
	// as Greengrass's stream manager does; without, the SDK's default chain.
	var awsConfig *aws.Config
	if n.tes != nil {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(n.opts.Region),
			config.WithCredentialsProvider(aws.NewCredentialsCache(n.tes)))
		if err != nil {
			return fmt.Errorf("stream exporters: AWS configuration: %w", err)
		}
		awsConfig = &cfg
	}
	var err error
	n.streams, err = stream.New(stream.Options{
		Conn:              n.nc,
		JetStreamStoreDir: n.opts.Root, // the broker's StoreDir: nats-server keeps <StoreDir>/jetstream
		ServeAdmin:        true,
		Reserved:          []string{StatusStream},
		ForgetExports: func(ctx context.Context, name string) error {
			return export.Forget(ctx, js, name)
		},
		Logger: n.opts.Logger,
		Exporters: func(ctx context.Context, s stream.ExportSpec) (stream.Exporter, error) {
			return export.Start(ctx, export.Options{JetStream: s.JetStream, Stream: s.JetStreamName,
				StreamName: s.StreamName, Definition: s.Definition, Slots: slots, Logger: n.opts.Logger, S3PathStyle: pathStyle, AWS: awsConfig,
				StatusPublish: func(ctx context.Context, rec []byte) error {
					_, err := n.streams.Append(ctx, StatusStream, rec)
					return err
				}})
		},
	})
	if err != nil {
		return err
	}
	if err := n.streams.Start(ctx); err != nil {
		return err
	}
	_, err = n.streams.Describe(ctx, StatusStream)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeResourceNotFound {
		return err // nil: it exists from an earlier start
	}
	return n.streams.Create(ctx, wire.MessageStreamDefinition{Name: StatusStream, MaxSize: statusStreamBytes,
		StrategyOnFull: wire.OverwriteOldestData, Persistence: wire.PersistenceFile})
}
