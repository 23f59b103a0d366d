package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
)

// Bootstrap exit codes that ask for a nucleus restart or a device reboot
// (Greengrass). The supervisor treats both as success and logs the request:
// restarting the nucleus or the device is the deployment layer's decision.
const (
	bootstrapRestartNucleus = 100
	bootstrapReboot         = 101
)

// bootstrapMarker is StateDir/<name>.bootstrap. It holds the version and a
// digest of the Bootstrap script that last completed, so Bootstrap runs once
// per component version (and again if the script changes) rather than on
// every nucleus start.
func (r *runner) bootstrapMarker() string {
	return filepath.Join(r.s.opts.StateDir, r.comp.Name+".bootstrap")
}

func (r *runner) bootstrapStamp() []byte {
	sum := sha256.Sum256([]byte(r.comp.Lifecycle.Bootstrap.Script))
	return []byte(r.comp.Version + "\n" + hex.EncodeToString(sum[:]) + "\n")
}

// bootstrap runs the Bootstrap step unless it already completed for this
// version.
func (r *runner) bootstrap(interrupt func() string) stepResult {
	st := r.comp.Lifecycle.Bootstrap
	if st == nil {
		return stepResult{}
	}
	stamp := r.bootstrapStamp()
	if b, err := os.ReadFile(r.bootstrapMarker()); err == nil && string(b) == string(stamp) {
		return stepResult{skipped: true}
	}
	r.setReason("running Bootstrap")
	res := r.runStep(stepBootstrap, st, false, interrupt)
	if res.interrupted != "" || res.skipped {
		return res
	}
	if res.err != nil && !errors.Is(res.err, errStepTimeout) {
		switch res.code {
		case bootstrapRestartNucleus:
			r.log.Warn("Bootstrap exited 100: it requests a nucleus restart; treated as success, the nucleus is not restarted by the supervisor")
			res.err = nil
		case bootstrapReboot:
			r.log.Warn("Bootstrap exited 101: it requests a device reboot; treated as success, the device is not rebooted by the supervisor")
			res.err = nil
		}
	}
	if res.err != nil {
		return res
	}
	if err := writeFileSync(r.bootstrapMarker(), stamp); err != nil {
		r.log.Warn("cannot record Bootstrap completion; it will run again on the next start", "err", err)
	}
	return res
}

// writeFileSync writes path atomically and durably: a Bootstrap that ran
// must not run again after a power loss if it can be helped.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return err
}
