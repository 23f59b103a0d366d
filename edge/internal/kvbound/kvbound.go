// Package kvbound opens the nucleus's JetStream KV buckets with their
// bounds. nats-server reserves a bucket's MaxBytes in the store when the
// bucket is created or updated, which is what keeps the nucleus's room
// whatever other writers do; a store an earlier version let streams
// reserve entirely has no room for the bound, and the nucleus must still
// start there.
package kvbound

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream API error codes of a store that cannot reserve the bound.
const (
	jsErrInsufficientResources = 10023
	jsErrStorageResources      = 10047
)

// Open creates cfg's bucket, or updates an existing one to cfg. When
// nats-server cannot reserve cfg.MaxBytes and the bucket exists (an
// upgrade, with streams that reserve the store), it opens the bucket as it
// is and logs an error naming the fix: the nucleus runs, without the
// reserve, until a stream is shrunk or deleted and it starts again.
func Open(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, log *slog.Logger) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	var apiErr *jetstream.APIError
	if err == nil || !errors.As(err, &apiErr) ||
		(apiErr.ErrorCode != jsErrInsufficientResources && apiErr.ErrorCode != jsErrStorageResources) {
		return kv, err
	}
	existing, oerr := js.KeyValue(ctx, cfg.Bucket)
	if oerr != nil {
		return nil, err
	}
	log.Error("kv bucket opened without its reserved room: the store's streams reserve too much; shrink or delete stream manager streams (sward stream update --max-size, sward stream delete) and restart",
		"bucket", cfg.Bucket, "max_bytes", cfg.MaxBytes, "error", err)
	return existing, nil
}
