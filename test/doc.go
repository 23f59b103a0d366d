// Package test holds Sward's integration and end-to-end tests and the harness
// that starts real servers for them. Tests here may import any package of the
// repository; nothing outside test/ imports it.
package test
