package nucleus

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/edge/tes"
)

// tokenExchangeConfigured reports whether c names what the token exchange
// service needs: the credentials provider and the role alias.
func tokenExchangeConfigured(c devconfig.Cloud) bool {
	return c.Configured() && c.CredentialsEndpoint != "" && c.RoleAlias != ""
}

// builtin is the deployment engine's deployment.Builtin: the nucleus
// provides aws.greengrass.TokenExchangeService itself when the device
// configuration turns it on, and names the missing keys otherwise.
func (n *Nucleus) builtin(name string) (bool, error) {
	if name != tes.ComponentName {
		return false, nil
	}
	if tokenExchangeConfigured(n.opts.Cloud) {
		return true, nil
	}
	return false, fmt.Errorf("%s is the nucleus's token exchange service, which runs only when the device configuration file (sward run --config) sets %s iotDataEndpoint, iotCredEndpoint and iotRoleAlias: `sward provision` writes them",
		tes.ComponentName, devconfig.NucleusPath)
}

// identities hands every set to the identity registry and revokes the
// credentials tokens of the components that are no longer in it.
type identities struct{ n *Nucleus }

func (i identities) Set(configs map[string]map[string]any) error {
	if err := i.n.registry.Set(configs); err != nil {
		return err
	}
	if i.n.tes != nil {
		i.n.tes.Retain(slices.Collect(maps.Keys(configs)))
	}
	return nil
}
