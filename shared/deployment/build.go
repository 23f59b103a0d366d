package deployment

import (
	"maps"
	"slices"
	"strings"

	"github.com/sward-iot/sward/shared/strictjson"
)

// The pieces of a LOCAL document that the CLI's flags and the IPC's
// CreateLocalDeployment both write in greengrass-cli's spelling, decoded
// from a tree that strictjson.Parse returned and checked like the same
// pieces of a document. path names the piece in errors, such as
// --update-config["com.example.A"] or
// componentToConfiguration["com.example.A"].

// ConfigurationUpdateFrom decodes one component's configuration update,
// {"MERGE": {...}, "RESET": ["/pointer", ...]}. MERGE and RESET are matched
// without regard to case, so the document spellings merge and reset work
// too; two spellings of one in the same object are an error.
func ConfigurationUpdateFrom(path string, v any) (ConfigurationUpdate, error) {
	d := &decoder{}
	f := d.object(path, v, `such as {"MERGE": {"port": 8080}, "RESET": ["/debug"]}`)
	if f == nil {
		return ConfigurationUpdate{}, d.errs.Err()
	}
	keys := map[string]string{} // canonical → as written
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		lk := strings.ToLower(k)
		if prev, dup := keys[lk]; dup {
			d.errorf(strictjson.Key(path, k), "is given twice, as %q and %q (MERGE and RESET are not case-sensitive); keep one", prev, k)
			return ConfigurationUpdate{}, d.errs.Err()
		}
		keys[lk] = k
	}
	u := d.configurationUpdate(f, func(name string) string {
		if k, ok := keys[name]; ok {
			return k
		}
		return name
	})
	f.rejectRest([]string{"MERGE", "RESET"})
	return u, d.errs.Err()
}

// ResourceLimitsFrom decodes one systemResourceLimits object, {"cpus": 0.5,
// "memory": 102400} (memory in kilobytes).
func ResourceLimitsFrom(path string, v any) (SystemResourceLimits, error) {
	d := &decoder{}
	l := d.limits(path, v)
	return l, d.errs.Err()
}
