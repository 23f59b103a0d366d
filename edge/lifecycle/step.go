package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// stepEnv builds a step's environment: the nucleus base environment,
// overridden by Component.Env, by Lifecycle.Setenv, by Step.Setenv, then by
// the session variables (Options.Sessions).
func (r *runner) stepEnv(st *Step) []string {
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, kv := range r.s.opts.BaseEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	for _, m := range []map[string]string{r.comp.Env, r.comp.Lifecycle.Setenv, st.Setenv, r.session} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			set(k, m[k])
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+env[k])
	}
	return out
}

// skipReason evaluates the step's Skipif and returns why it is skipped, or
// "" when it runs.
func (r *runner) skipReason(st *Step) string {
	sk := st.Skipif
	if sk == nil {
		return ""
	}
	switch sk.Kind {
	case SkipifOnPath:
		path := ""
		for _, kv := range r.stepEnv(st) {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = v
			}
		}
		if exe := lookPath(sk.Arg, path, r.workDir); exe != "" {
			return "skipif onpath " + sk.Arg + ": found " + exe
		}
	case SkipifExists:
		f := sk.Arg
		if !filepath.IsAbs(f) {
			f = filepath.Join(r.workDir, f)
		}
		if _, err := os.Stat(f); err == nil {
			return "skipif exists " + sk.Arg + ": it exists"
		}
	}
	return ""
}

// lookPath finds an executable regular file named name on path (a name with
// a slash is taken as a path relative to dir), like the shell would.
func lookPath(name, path, dir string) string {
	isExe := func(f string) bool {
		fi, err := os.Stat(f)
		return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
	}
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if isExe(name) {
			return name
		}
		return ""
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if f := filepath.Join(d, name); isExe(f) {
			return f
		}
	}
	return ""
}

// credential decides the user a step runs as:
//   - RequiresPrivilege: root when the nucleus is root; otherwise the
//     nucleus user, with a warning once per component;
//   - otherwise: Component.RunAs, else Options.RunAs, when set and the
//     nucleus is root; otherwise the nucleus user.
//
// nil means "as the nucleus".
func (r *runner) credential(step string, st *Step) *syscall.Credential {
	if st.RequiresPrivilege {
		if !r.s.isRoot {
			r.privWarn.Do(func() {
				r.log.Warn("step requires privilege but nucleus is not root; running it as the nucleus user", "step", step)
			})
		}
		return nil
	}
	if id := r.identity(); r.s.isRoot && id != nil {
		c := id.cred
		c.Groups = slices.Clone(c.Groups)
		return &c
	}
	return nil
}

// identity is the user the component's non-privileged steps run as:
// Component.RunAs, else Options.RunAs; nil for the nucleus user.
func (r *runner) identity() *identity {
	if r.runAs != nil {
		return r.runAs
	}
	return r.s.runAs
}

// stepResult is the outcome of a step run to completion.
type stepResult struct {
	skipped     bool
	interrupted string // non-empty: the step was cut short for this reason
	err         error  // the step failed (could not start, non-zero exit, timeout)
	code        int    // exit code when the step exited by itself
}

// errStepTimeout marks a step that ran past its timeout.
var errStepTimeout = errors.New("timed out")

// runStep runs a step to completion: Skipif, start, wait with its timeout.
// keep leaves the process group alive after the shell exits 0 (Startup's
// background processes belong to the component); otherwise what the step
// left behind is terminated. interrupt, when not nil, is asked on every
// request or state change whether to cut the step short.
func (r *runner) runStep(name string, st *Step, keep bool, interrupt func() string) stepResult {
	if why := r.skipReason(st); why != "" {
		r.log.Info("step skipped", "step", name, "reason", why)
		return stepResult{skipped: true}
	}
	p, err := r.start(name, st)
	if err != nil {
		return stepResult{err: err}
	}
	if name == stepStartup {
		r.setPID(p.pid)
	}
	var timeout <-chan time.Time
	d := r.s.opts.timeout(name, st)
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	res := stepResult{}
	for done := false; !done; {
		changed := r.s.changedChan()
		select {
		case <-p.exited:
			done = true
		case <-timeout:
			res.err = fmt.Errorf("component %s step %s %w after %s; raise the step's Timeout or fix the script", r.comp.Name, name, errStepTimeout, d)
			done = true
		case <-r.wake:
		case <-changed:
		}
		if !done && interrupt != nil {
			if why := interrupt(); why != "" {
				res.interrupted = why
				done = true
			}
		}
	}
	if res.err == nil && res.interrupted == "" {
		res.code = p.exitCode()
		if p.err != nil {
			res.err = fmt.Errorf("component %s step %s %s; see %s", r.comp.Name, name, p.exitDescription(), r.logPath)
		}
	}
	// A Startup that reported RUNNING keeps its processes like one that
	// exited 0: they are the component's service.
	if keep && res.err == nil && (res.interrupted == "" || res.interrupted == reportedRunning) {
		return res
	}
	r.endProc(p)
	return res
}

// endProc terminates what is left of a step's process group and waits for
// the shell.
func (r *runner) endProc(p *proc) {
	if err := terminateGroup(p.pid, r.s.opts.StopGrace, true); err != nil {
		r.log.Error("step processes did not exit", "step", p.step, "err", err)
	}
	<-p.exited
	r.dropGroup(p.pid)
	r.setPID(0)
}
