//go:build !linux

package nucleus

// trimStartupPages is a Linux optimisation (MADV_PAGEOUT); elsewhere it does nothing.
func trimStartupPages() int { return 0 }
