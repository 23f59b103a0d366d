package test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sward-iot/sward/test/harness"
)

// maxPackageInitBytes bounds what one package may allocate when the sward
// binary starts. Every package linked in initializes, whether the command
// uses it or not, and the nucleus keeps that heap for its whole life: a
// service client that builds large tables at init (aws-sdk-go-v2's
// cloudformation v1.84 schemas: 700 KB) costs every device memory for a
// command (`sward provision`) it never runs. The largest today is
// kinesis/schemas at about 250 KB.
const maxPackageInitBytes = 300 << 10

func TestNoPackageAllocatesMuchAtTheStartOfEverySwardCommand(t *testing.T) {
	cmd := exec.Command(harness.Binary(t), "--help")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sward --help: %v\n%s", err, stderr.String())
	}
	var total, packages int
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		// init <package> @<t> ms, <c> ms clock, <n> bytes, <a> allocs
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] != "init" {
			continue
		}
		for i := 1; i < len(f); i++ {
			if f[i] != "bytes," {
				continue
			}
			n, err := strconv.Atoi(f[i-1])
			if err != nil {
				t.Fatalf("inittrace line %q: %v", sc.Text(), err)
			}
			packages++
			total += n
			if n > maxPackageInitBytes {
				t.Errorf("package %s allocates %d KB at every start of sward (at most %d KB): keep it out of the binary, pin a version without it, or make it lazy", f[1], n>>10, maxPackageInitBytes>>10)
			}
		}
	}
	if packages < 50 {
		t.Fatalf("read %d package inits from GODEBUG=inittrace=1: is the trace format different?\n%s", packages, stderr.String())
	}
	t.Logf("%d packages allocate %d KB at start", packages, total>>10)
}
