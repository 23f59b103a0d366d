package nucleus

import (
	"testing"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// TestOperationTableServesEveryOperationInItsLane: the table the nucleus
// builds from its services has every IPC operation, and the fast ones
// (answered in order on the caller's lane) are those that touch only
// memory or one KV read.
func TestOperationTableServesEveryOperationInItsLane(t *testing.T) {
	fast := []string{wire.OpGetConfiguration, wire.OpSubscribeToConfigurationUpdate,
		wire.OpSubscribeToValidateConfigurationUpdates, wire.OpSendConfigurationValidityReport,
		wire.OpSubscribeToComponentUpdates, wire.OpDeferComponentUpdate, wire.OpUpdateState,
		wire.OpGetComponentDetails, wire.OpListComponents, wire.OpPutComponentMetric}
	slow := append([]string{wire.OpUpdateConfiguration, wire.OpPauseComponent, wire.OpResumeComponent,
		wire.OpRestartComponent, wire.OpStopComponent, wire.OpCreateLocalDeployment, wire.OpListLocalDeployments,
		wire.OpGetLocalDeploymentStatus, wire.OpGetThingShadow, wire.OpUpdateThingShadow, wire.OpDeleteThingShadow,
		wire.OpListNamedShadowsForThing, wire.OpPublishToTopic, wire.OpSubscribeToTopic,
		wire.OpPublishToIoTCore, wire.OpSubscribeToIoTCore, wire.OpGetSecretValue}, wire.StreamOperations...)

	// Registering only takes the services' method values, so a nucleus
	// that started nothing builds the same table.
	table := (&Nucleus{}).operations()
	for _, name := range fast {
		if o, ok := table.Lookup(name); !ok || !o.Fast {
			t.Errorf("%s: in table %v, fast %v; want it in the table and fast", name, ok, o.Fast)
		}
	}
	for _, name := range slow {
		if o, ok := table.Lookup(name); !ok || o.Fast {
			t.Errorf("%s: in table %v, fast %v; want it in the table and slow (it may wait)", name, ok, o.Fast)
		}
	}
}
