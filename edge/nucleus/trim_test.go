//go:build linux

package nucleus

import "testing"

func TestTrimStartupPagesPagesOutTheExecutableImage(t *testing.T) {
	if got := trimStartupPages(); got <= 0 {
		t.Fatalf("trimStartupPages() = %d bytes: the test binary's code and read-only data were not paged out (MADV_PAGEOUT needs Linux 5.4+)", got)
	}
}
