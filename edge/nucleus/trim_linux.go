package nucleus

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimStartupPages asks the kernel to page out the nucleus's own executable
// mappings (code and read-only data). Exec readahead maps nearly the whole
// 18 MB binary although an idle nucleus touches a small part of it; the
// kernel would reclaim those clean pages under memory pressure anyway, and
// MADV_PAGEOUT does it now, so idle memory reflects what the nucleus uses.
// Pages fault back in from the page cache when they are needed again.
// Failures are ignored: this is an optimisation (kernels before 5.4 lack it).
func trimStartupPages() (trimmed int) {
	exe, err := os.Executable()
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// A raw syscall: the region is the program's own image, not a Go slice.
		// MADV_RANDOM first: without it, the next fault's readahead brings
		// back large runs of the pages just paged out.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_RANDOM)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); errno == 0 {
			trimmed += int(end - start)
		}
	}
	return trimmed
}
