package recipe

import (
	"runtime"
	"syscall"
)

// archDetail reads the ARM variant from uname on ARM, as the Greengrass
// nucleus runs uname -m only when its architecture is arm or aarch64.
func archDetail() string {
	if runtime.GOARCH != "arm" && runtime.GOARCH != "arm64" {
		return ""
	}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	machine := make([]byte, 0, len(u.Machine))
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		machine = append(machine, byte(c))
	}
	return armDetail(string(machine))
}
