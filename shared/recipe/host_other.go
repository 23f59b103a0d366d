//go:build !linux

package recipe

// archDetail is unknown off Linux: Greengrass sets architecture.detail only
// on ARM Linux devices.
func archDetail() string { return "" }
