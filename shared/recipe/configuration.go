package recipe

// MaxConfigDepth bounds how deeply a component's configuration nests, counted
// in object levels ({"a": {"b": 1}} is 2 deep). Every writer of configuration
// checks it: recipe validation (DefaultConfiguration), deployments (MERGE)
// and IPC UpdateConfiguration, so no component's configuration is deeper than
// the IPC front end will walk. 32 is far beyond any real configuration and
// keeps the recursive merge, validation and JSON encoding of one component's
// configuration cheap for everyone else (a 3,000-level default once stalled
// IPC for every component).
const MaxConfigDepth = 32

// ConfigDepth is how many object levels v nests: 0 for a scalar or a list,
// 1 for an object of scalars.
func ConfigDepth(v any) int {
	m, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	d := 0
	for _, x := range m {
		d = max(d, ConfigDepth(x))
	}
	return d + 1
}
