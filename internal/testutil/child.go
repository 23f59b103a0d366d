package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// Child is the test binary run again as a child process, for tests that
// kill -9 what they test: the child runs the test named in StartChild,
// which sees its environment and plays the child's part.
type Child struct {
	Cmd *exec.Cmd
	// Lines is what the child prints on stdout, line by line; it is
	// closed when the child's stdout closes.
	Lines <-chan string
}

// StartChild runs the current test binary with -test.run=^test$ and env
// added to the environment. The child's stderr is the test's; it is
// killed (SIGKILL) when t ends if it still runs.
func StartChild(t testing.TB, test string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range lines { // lets the reader end once stdout closes
		}
		_ = cmd.Wait()
	})
	return &Child{Cmd: cmd, Lines: lines}
}

// Kill kills the child with SIGKILL (no shutdown, no flush) and waits
// for it; the lines it printed before stay readable from Lines.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	if err := c.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.Cmd.Wait()
}
