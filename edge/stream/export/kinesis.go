package export

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sward-iot/sward/shared/ipc"
)

const (
	// kinesisMaxRequestBytes is PutRecords' limit on data plus partition
	// keys per call.
	kinesisMaxRequestBytes = 5 << 20

	// kinesisClockSkew widens the window a resume scans, before the
	// in-flight marker's time: the marker is stamped by the device clock,
	// arrival times by AWS's. SigV4 refuses requests signed more than 15
	// minutes off AWS's clock, so no accepted record of the batch can
	// arrive earlier than that.
	kinesisClockSkew = 15 * time.Minute

	// kinesisSettle is how long a resume waits before scanning, so that a
	// PutRecords Kinesis accepted just before the crash or the failed call
	// is readable: GetRecords typically sees a record well under a second
	// after PutRecords returns.
	kinesisSettle = 2 * time.Second

	// kinesisScanLimit is GetRecords' largest page.
	kinesisScanLimit = 10000
)

// kinesisDest sends batches with PutRecords. Kinesis has no idempotency
// key, so each record's partition key is "<instance>.<sequence>" (instance
// from the export's state): after a crash or a failed call, resume reads
// the shards from just before the batch started and sends only the
// sequence numbers not found there.
type kinesisDest struct {
	client *kinesis.Client
	cfg    ipc.KinesisConfig
}

func newKinesis(cfg aws.Config, c ipc.KinesisConfig) *kinesisDest {
	return &kinesisDest{client: kinesis.NewFromConfig(cfg), cfg: c}
}

// PartitionKey is the partition key of the message seq of the export whose
// state has instance: readers of the Kinesis stream can deduplicate by it.
func PartitionKey(instance string, seq uint64) string {
	return instance + "." + strconv.FormatUint(seq, 10)
}

// parsePartitionKey returns the sequence number in key if key belongs to
// instance.
func parsePartitionKey(instance, key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, instance+".")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil
}

func (d *kinesisDest) where(*batch) string { return "kinesis:" + d.cfg.KinesisStreamName }

func (d *kinesisDest) send(ctx context.Context, b *batch, st *state) error {
	return d.put(ctx, b, b.msgs, st)
}

func (d *kinesisDest) resume(ctx context.Context, b *batch, st *state) error {
	if !sleepCtx(ctx, kinesisSettle) {
		return ctx.Err()
	}
	landed, err := d.scan(ctx, b, st)
	if err != nil {
		return err
	}
	var missing []message
	for _, m := range b.msgs {
		if !landed[m.seq] {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return d.put(ctx, b, missing, st)
}

// put sends msgs, resending only the records PutRecords reports as failed
// (a failed record is guaranteed not written) until none is left. An
// error of the call itself leaves it unknown which records landed; the
// caller then resumes.
func (d *kinesisDest) put(ctx context.Context, b *batch, msgs []message, st *state) error {
	bo := newBackoff()
	for len(msgs) > 0 {
		var failed []message
		for len(msgs) > 0 {
			n, size := 0, 0
			for n < len(msgs) && n < ipc.MaxKinesisBatchSize {
				rec := len(msgs[n].data) + len(PartitionKey(st.Instance, msgs[n].seq))
				if n > 0 && size+rec > kinesisMaxRequestBytes {
					break
				}
				size += rec
				n++
			}
			chunk := msgs[:n]
			msgs = msgs[n:]
			in := &kinesis.PutRecordsInput{StreamName: aws.String(d.cfg.KinesisStreamName)}
			for _, m := range chunk {
				in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{
					Data:         m.data,
					PartitionKey: aws.String(PartitionKey(st.Instance, m.seq)),
				})
			}
			out, err := d.client.PutRecords(ctx, in)
			if err != nil {
				return fmt.Errorf("PutRecords to %s: %w", d.cfg.KinesisStreamName, err)
			}
			if aws.ToInt32(out.FailedRecordCount) == 0 {
				continue
			}
			if len(out.Records) != len(chunk) {
				return fmt.Errorf("PutRecords to %s answered %d results for %d records", d.cfg.KinesisStreamName, len(out.Records), len(chunk))
			}
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					failed = append(failed, chunk[i])
				}
			}
		}
		if len(failed) == 0 {
			return nil
		}
		hook("partial", b)
		msgs = failed
		if !bo.wait(ctx) { // failures are mostly throttling: slow down
			return ctx.Err()
		}
	}
	return nil
}

// scan returns the sequence numbers of b already in the Kinesis stream,
// reading every shard from kinesisClockSkew before the batch started.
func (d *kinesisDest) scan(ctx context.Context, b *batch, st *state) (map[uint64]bool, error) {
	landed := map[uint64]bool{}
	from := b.started.Add(-kinesisClockSkew)
	var shards []ktypes.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(d.cfg.KinesisStreamName)}
	for {
		out, err := d.client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListShards of %s: %w", d.cfg.KinesisStreamName, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	for _, sh := range shards {
		it, err := d.client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName:        aws.String(d.cfg.KinesisStreamName),
			ShardId:           sh.ShardId,
			ShardIteratorType: ktypes.ShardIteratorTypeAtTimestamp,
			Timestamp:         aws.Time(from),
		})
		if err != nil {
			return nil, fmt.Errorf("GetShardIterator %s/%s: %w", d.cfg.KinesisStreamName, aws.ToString(sh.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := d.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(kinesisScanLimit)})
			if err != nil {
				return nil, fmt.Errorf("GetRecords %s/%s: %w", d.cfg.KinesisStreamName, aws.ToString(sh.ShardId), err)
			}
			for _, r := range out.Records {
				if seq, ok := parsePartitionKey(st.Instance, aws.ToString(r.PartitionKey)); ok && seq >= b.first && seq <= b.last {
					landed[seq] = true
				}
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return landed, nil
}
