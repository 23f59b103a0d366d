// Command build-artifacts builds the binaries of the components under a
// recipes folder into the greengrass-cli artifact layout:
//
//	go run ./recipes/cmd/build-artifacts -recipes recipes -out build/artifacts [-goos linux -goarch arm64]
//
// For every <recipes>/<folder>/recipe.yaml it selects the recipe's manifest
// for the target platform and writes <out>/<ComponentName>/<ComponentVersion>/<file>
// for each of its artifacts: a file of that name in the component folder is
// copied; when the folder holds Go sources, the one artifact left is the
// binary built from the folder (go build -trimpath -ldflags=-s -w,
// CGO_ENABLED=0). A folder without Go sources (a script component) must
// hold all its artifacts.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/sward-iot/sward/shared/recipe"
)

// Options say what to build, from where, to where.
type Options struct {
	Recipes string // folder holding <Component>/recipe.yaml
	Out     string // artifact folder
	GOOS    string
	GOARCH  string
	Go      string // the go command
}

func main() {
	o := Options{Go: "go"}
	flag.StringVar(&o.Recipes, "recipes", "recipes", "folder with one <Component>/recipe.yaml per component")
	flag.StringVar(&o.Out, "out", "build/artifacts", "artifact folder: <out>/<Name>/<Version>/<file>")
	flag.StringVar(&o.GOOS, "goos", runtime.GOOS, "target operating system")
	flag.StringVar(&o.GOARCH, "goarch", runtime.GOARCH, "target architecture")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	built, err := Build(o, log)
	if err != nil {
		log.Error("build artifacts", "err", err)
		os.Exit(1)
	}
	log.Info("artifacts built", "components", built, "out", o.Out, "goos", o.GOOS, "goarch", o.GOARCH)
}

// greengrassArch is Greengrass's spelling of Go's architectures, which
// manifests match against.
var greengrassArch = map[string]string{"amd64": "amd64", "arm64": "aarch64", "arm": "arm", "386": "x86"}

// TargetPlatform is the platform manifests are selected for.
func TargetPlatform(goos, goarch string) recipe.Platform {
	arch, ok := greengrassArch[goarch]
	if !ok {
		arch = goarch
	}
	return recipe.Platform{recipe.KeyOS: goos, recipe.KeyArchitecture: arch}
}

// Build builds every component and returns how many had artifacts.
func Build(o Options, log *slog.Logger) (int, error) {
	paths, err := filepath.Glob(filepath.Join(o.Recipes, "*", "recipe.yaml"))
	if err != nil {
		return 0, err
	}
	if len(paths) == 0 {
		return 0, fmt.Errorf("no %s under %s: is -recipes the recipes folder?", "*/recipe.yaml", o.Recipes)
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return 0, err
	}
	built := 0
	for _, p := range paths {
		ok, err := buildComponent(p, out, o, log)
		if err != nil {
			return built, err
		}
		if ok {
			built++
		}
	}
	return built, nil
}

// buildComponent builds the component of the recipe at path; false means it
// has no artifacts.
func buildComponent(path, out string, o Options, log *slog.Logger) (bool, error) {
	dir := filepath.Dir(path)
	gofiles, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return false, err
	}
	r, err := recipe.ParseFile(path)
	if err != nil {
		return false, err
	}
	sel, err := r.Select(TargetPlatform(o.GOOS, o.GOARCH))
	if err != nil {
		return false, fmt.Errorf("%s: %w", r.ID(), err)
	}
	if len(gofiles) == 0 && len(sel.Artifacts) == 0 {
		return false, nil // nothing to build or copy
	}
	dest := filepath.Join(out, r.Name, r.Version)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return false, err
	}
	var binaries []string
	for _, a := range sel.Artifacts {
		name := a.FileName()
		if a.Scheme() == recipe.SchemeDocker || name == "" {
			continue
		}
		src := filepath.Join(dir, name)
		if _, err := os.Stat(src); err == nil {
			if err := copyFile(src, filepath.Join(dest, name)); err != nil {
				return false, fmt.Errorf("%s: artifact %s: %w", r.ID(), name, err)
			}
			continue
		}
		binaries = append(binaries, name)
	}
	if len(gofiles) == 0 {
		// A component without Go sources (a script): its artifacts are
		// files in its folder, copied above.
		if len(binaries) > 0 {
			return false, fmt.Errorf("%s: artifacts %s are not files in %s, and the folder has no Go sources to build them from",
				r.ID(), strings.Join(binaries, ", "), dir)
		}
		log.Info("copied", "component", r.ID(), "artifacts", dest)
		return true, nil
	}
	if len(binaries) != 1 {
		return false, fmt.Errorf("%s: %s has Go sources, so exactly one artifact of manifest %q must be the binary "+
			"(not a file in the folder); found %d: %s", r.ID(), dir, sel.ManifestName, len(binaries), strings.Join(binaries, ", "))
	}
	bin := filepath.Join(dest, binaries[0])
	cmd := exec.Command(o.Go, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(slices.Clip(os.Environ()), "CGO_ENABLED=0", "GOOS="+o.GOOS, "GOARCH="+o.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("%s: go build in %s: %w\n%s", r.ID(), dir, err, msg)
	}
	log.Info("built", "component", r.ID(), "artifact", bin)
	return true, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
