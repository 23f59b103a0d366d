// Package hostile is the hostile-component suite: real component processes,
// built from recipes written into temporary folders and run by the real
// sward binary (test/harness), try to escape what the nucleus allows — read
// its credentials, run code as root, escape supervision, starve storage or
// IPC — and each test proves the attempt refused.
package hostile
