package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/edge/nucleus"
	"github.com/sward-iot/sward/edge/shadowsync"
	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/recipe"
)

// pathFlags are the `sward run` flags that name files or folders: in a
// configuration file they are relative to the file's folder.
var pathFlags = map[string]bool{
	"root": true, "recipes": true, "artifacts": true, "git": true, "devices": true,
	"tls-cert": true, "tls-key": true, "tls-ca": true, "tls-server-ca": true,
}

// configChecks check the values of flags whose parsing happens after the
// file is applied, so that a bad value is named by its place in the file.
var configChecks = map[string]func(string) error{
	"log-level": func(v string) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("%q is not a level: use debug, info, warn or error (TRACE, DEBUG, INFO, WARN, ERROR in logging.level)", v)
		}
		return nil
	},
	"platform": func(v string) error {
		_, err := recipe.ParsePlatform(v)
		return err
	},
	"default-system-limits": func(v string) error {
		_, err := parseResourceLimits("systemResourceLimits", v)
		return err
	},
}

// configSetting is a flag value a configuration file gives.
type configSetting struct {
	value string
	path  string // where in the file, for messages
	line  int
}

// applyConfig sets every flag of cmd the file gives a value and the
// command line did not (cobra's Changed): first from the Greengrass keys
// that mean a flag (system.thingName is --thing-name, …), then from the
// sward section, which wins over them. It returns the sward keys that are
// no flag, as warnings.
func applyConfig(cmd *cobra.Command, file string, f *devconfig.File) ([]devconfig.Warning, error) {
	settings := map[string]configSetting{}
	var order []string
	set := func(flag, value, path string, line int) {
		if value == "" {
			return
		}
		if line == 0 {
			line = f.Line(path)
		}
		if _, ok := settings[flag]; !ok {
			order = append(order, flag)
		}
		settings[flag] = configSetting{value: value, path: path, line: line}
	}
	n := f.Nucleus
	np := devconfig.NucleusPath
	if os.Getenv(wire.EnvRoot) == "" { // SWARD_ROOT is the user's word too
		set("root", f.Path(f.System.RootPath), "system.rootpath", 0)
	}
	set("thing-name", f.System.ThingName, "system.thingName", 0)
	set("region", n.AWSRegion, np+".awsRegion", 0)
	set("run-as", n.RunWithDefault.PosixUser, np+".runWithDefault.posixUser", 0)
	if l := n.RunWithDefault.SystemResourceLimits; l != nil {
		b, _ := json.Marshal(l)
		set("default-system-limits", string(b), np+".runWithDefault.systemResourceLimits", 0)
	}
	if len(n.PlatformOverride) > 0 {
		var pairs []string
		for k, v := range n.PlatformOverride {
			pairs = append(pairs, k+"="+v)
		}
		slices.Sort(pairs)
		set("platform", strings.Join(pairs, ","), np+".platformOverride", 0)
	}
	if v := n.InterpolateComponentConfiguration; v != nil {
		set("interpolate-component-configuration", strconv.FormatBool(*v), np+".interpolateComponentConfiguration", 0)
	}
	if lvl := strings.ToLower(n.Logging.Level); lvl != "" {
		if lvl == "trace" { // Greengrass's finest level; slog's is debug
			lvl = "debug"
		}
		set("log-level", lvl, np+".logging.level", 0)
	}
	var warnings []devconfig.Warning
	for _, s := range f.Sward {
		fl := lookupFlag(cmd, s.Name)
		if fl == nil || s.Name == "config" || s.Name == "help" {
			warnings = append(warnings, devconfig.Warning{Path: s.Path(), Line: s.Line,
				Msg: "unknown key, ignored: the sward section takes `sward run` flag names without the dashes (sward run --help)"})
			continue
		}
		v := s.Value
		if pathFlags[s.Name] {
			v = f.Path(v)
		}
		set(s.Name, v, s.Path(), s.Line)
	}
	for _, name := range order {
		s := settings[name]
		fl := lookupFlag(cmd, name)
		if fl.Changed {
			continue // the command line wins
		}
		if err := fl.Value.Set(s.value); err != nil {
			return warnings, &devconfig.Error{File: file, Path: s.path, Line: s.line,
				Msg: fmt.Sprintf("expected %s (what --%s takes), got %q: %v", flagType(fl), name, s.value, err)}
		}
		if check := configChecks[name]; check != nil {
			if err := check(s.value); err != nil {
				return warnings, &devconfig.Error{File: file, Path: s.path, Line: s.line, Msg: err.Error()}
			}
		}
	}
	return warnings, nil
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if fl := cmd.Flags().Lookup(name); fl != nil {
		return fl
	}
	return cmd.InheritedFlags().Lookup(name)
}

func flagType(fl *pflag.Flag) string {
	switch t := fl.Value.Type(); t {
	case "bool":
		return "true or false"
	case "int", "int32", "int64":
		return "an integer"
	case "duration":
		return "a duration such as 90s or 5m"
	case "string":
		return "a string"
	default:
		return "a " + t
	}
}

// applyShadowManager takes the file's shadow manager configuration: its
// synchronize block as the shadow sync, and its document size and
// per-thing rate when no flag gave them. The sync service validates the
// synchronize block (edge/shadowsync).
func applyShadowManager(opts *nucleus.Options, sm devconfig.ShadowManager) {
	if opts.ShadowMaxBytes == 0 {
		opts.ShadowMaxBytes = sm.ShadowDocumentSizeLimitBytes
	}
	if opts.ShadowRate == 0 {
		opts.ShadowRate = sm.RateLimits.MaxLocalRequestsPerSecondPerThing
	}
	if sm.Synchronize == nil {
		return
	}
	sc := &shadowsync.Config{
		Direction:            shadowsync.Direction(sm.Synchronize.Direction),
		MaxOutboundPerSecond: float64(sm.RateLimits.MaxOutboundSyncUpdatesPerSecond),
	}
	if c := sm.Synchronize.CoreThing; c != nil {
		sc.CoreThing = &shadowsync.Document{Classic: c.ClassicOrDefault(), NamedShadows: c.NamedShadows}
	}
	for _, d := range sm.Synchronize.ShadowDocuments {
		sc.Documents = append(sc.Documents, shadowsync.Document{Thing: d.ThingName, Classic: d.ClassicOrDefault(), NamedShadows: d.NamedShadows})
	}
	if st := sm.Strategy; st != nil {
		sc.Strategy, sc.Delay = st.Type, time.Duration(st.Delay)*time.Second
	}
	opts.ShadowSync = sc
}
