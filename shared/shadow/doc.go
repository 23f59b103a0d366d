// Package shadow is the AWS IoT Device Shadow document model, shared by the
// edge's local shadows (edge/shadow) and devcloud's cloud shadows
// (infra/devcloud): parsing get/update/delete requests with AWS's
// rejections, merging an update into a stored record (per-leaf metadata,
// versions), delta, and the accepted, delta, documents and error documents
// with their fields in AWS's order. It does no I/O: each service stores
// records and publishes the documents its own way.
package shadow
