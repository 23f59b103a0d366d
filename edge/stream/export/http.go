package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sward-iot/sward/shared/ipc"
)

// httpTimeout bounds one POST: a batch of 500 small messages uploads in
// well under a second even on a cellular link; 30 s leaves room for a slow
// endpoint without holding an upload slot forever.
const httpTimeout = 30 * time.Second

// Headers of every HTTP export request. Idempotency-Key is the same for
// every attempt at the same batch (or, RAW_NOT_BATCHED, message), so an
// endpoint that remembers keys receives each message once.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderFirstSequence  = "X-Sward-First-Sequence"
	HeaderLastSequence   = "X-Sward-Last-Sequence"
	HeaderStream         = "X-Sward-Stream"
)

// httpDest POSTs batches. HTTP has no general way to ask whether a request
// landed, so a resume sends the batch again with the same idempotency key
// and the same sequence range.
type httpDest struct {
	client     *http.Client
	cfg        ipc.HTTPConfig
	streamName string
}

func newHTTP(opts Options, c ipc.HTTPConfig) *httpDest {
	if c.ExportFormat == "" {
		c.ExportFormat = ipc.JSONBatched
	}
	return &httpDest{client: opts.HTTPClient, cfg: c, streamName: opts.StreamName}
}

func (d *httpDest) where(*batch) string { return d.cfg.URI }

func (d *httpDest) idempotencyKey(first, last uint64) string {
	return fmt.Sprintf("%s/%s/%d-%d", d.streamName, d.cfg.Identifier, first, last)
}

func (d *httpDest) send(ctx context.Context, b *batch, _ *state) error {
	if d.cfg.ExportFormat == ipc.RawNotBatched {
		for ; b.sent < len(b.msgs); b.sent++ {
			m := b.msgs[b.sent]
			if err := d.post(ctx, m.seq, m.seq, "application/octet-stream", m.data); err != nil {
				return err
			}
		}
		return nil
	}
	msgs := make([]ipc.Message, len(b.msgs))
	for i, m := range b.msgs {
		msgs[i] = ipc.Message{StreamName: d.streamName, SequenceNumber: int64(m.seq), IngestTime: m.time.UnixMilli(), Payload: m.data}
	}
	body, err := json.Marshal(msgs)
	if err != nil {
		return err
	}
	return d.post(ctx, b.first, b.last, "application/json", body)
}

// resume resends what this process has not seen acknowledged.
func (d *httpDest) resume(ctx context.Context, b *batch, st *state) error { return d.send(ctx, b, st) }

func (d *httpDest) post(ctx context.Context, first, last uint64, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URI, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(HeaderIdempotencyKey, d.idempotencyKey(first, last))
	req.Header.Set(HeaderFirstSequence, strconv.FormatUint(first, 10))
	req.Header.Set(HeaderLastSequence, strconv.FormatUint(last, 10))
	req.Header.Set(HeaderStream, d.streamName)
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", d.cfg.URI, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s: %s", d.cfg.URI, resp.Status, bytes.TrimSpace(snippet))
	}
	return nil
}
