package deployment

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sward-iot/sward/shared/recipe"
)

// A recipe deployed again under the same version with another
// DefaultConfiguration does not change the configuration a device already
// keeps for that component: as in Greengrass, stored values stay and only
// keys the stored configuration lacks are filled in. That is easy to miss
// while editing a recipe, so the engine says so: Submit notes each such
// recipe (changedDefaults) before it replaces the stored one, and the
// deployment that then keeps the component's configuration carries a
// warning naming it (keptConfigurations), in its status and its log.

// changedDefaults returns "name version" of each recipe whose
// DefaultConfiguration differs from that of the recipe stored for the same
// name and version.
func (e *Engine) changedDefaults(recipes []*recipe.Recipe) []string {
	cat, _ := e.catalog()
	var out []string
	for _, r := range recipes {
		if stored, ok := cat.lookup(r.Name, r.Version); ok && !sameConfig(stored.DefaultConfiguration, r.DefaultConfiguration) {
			out = mergeSorted(out, []string{r.Name + " " + r.Version})
		}
	}
	return out
}

// keptConfigurations returns a warning for each component of the batch's
// changed defaults that the device ran at that version before and still
// runs at it, keeping its configuration, unless a change resets it whole.
func (e *Engine) keptConfigurations(batch []*record, prev, target set, ch changes) []string {
	var changed []string
	for _, r := range batch {
		changed = mergeSorted(changed, r.ChangedDefaults)
	}
	var out []string
	for _, nv := range changed {
		name, version, _ := strings.Cut(nv, " ")
		old, wasThere := prev.Components[name]
		now, stays := target.Components[name]
		fresh := ch.restarted[name] && !otherGroupDeploys(prev, batch[0].Document.GroupName, name)
		if !wasThere || !stays || old.Version != version || now.Version != version || ch.resetsAll(name) || fresh {
			continue
		}
		e.log.Warn("recipe DefaultConfiguration changed under the same version; the stored configuration is kept",
			"deployment", batch[0].Status.DeploymentID, "component", name, "version", version)
		out = append(out, fmt.Sprintf("component %s %s: its recipe's DefaultConfiguration changed but its version did not, "+
			"so the device keeps the configuration it has (as Greengrass does); bump ComponentVersion to deploy the new defaults, "+
			`or reset the configuration with --update-config '{"%s":{"RESET":[""]}}'`, name, version, name))
	}
	return out
}

// mergeSorted returns the sorted union of a and b, without duplicates.
func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
