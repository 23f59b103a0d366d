// Package artifacts downloads component artifacts from Amazon S3
// (s3://bucket/key URIs) for the component store (edge/store declares the
// Downloader interface this package's Downloader serves).
//
// A download is one sequential ranged GetObject into <path>.partial, with
// the object's ETag and size beside it in <path>.partial.json. After a cut
// link, a failed attempt or a nucleus restart, the next attempt asks for
// the rest (Range: bytes=<partial size>-) on condition that the object is
// the same one (If-Match: <ETag>); an object changed in between (412) or a
// partial file that no longer fits (416) starts again from the first byte.
// When every byte is there, the partial file is renamed to <path> and its
// SHA-256 returned, for the store to compare with the recipe's Digest
// before anything is installed.
//
// Why not the transfer manager (feature/s3/transfermanager, which the
// stream exporters upload with): it downloads an object as parallel parts
// written out of order, so an interrupted download leaves a file with
// holes and no record of which parts arrived. One sequential stream per
// artifact makes the partial file's length the resume offset, and a few
// artifacts at once (Options.Concurrency) keep a link busy.
//
// Transient failures (no connection, a reset, 5xx, throttling, no byte
// for Options.IdleTimeout, credentials the token exchange service could
// not get) are retried with capped exponential backoff and jitter;
// an attempt that moved bytes starts the count again, so a slow, flaky
// link still finishes. 403 and 404 are not retried: they fail at once
// (ErrAccessDenied, ErrNotFound) naming the bucket, the key and the fix.
// An answer that names another region for the bucket
// (x-amz-bucket-region) switches to that region for the bucket, so a
// device reaches buckets outside its own region with no extra permission
// (GetBucketLocation would need s3:GetBucketLocation, which the device
// role does not grant).
//
// Files: download.go (options, Size, Download), partial.go (the partial
// file and its record), retry.go (classification and backoff).
package artifacts
