package topics

import (
	"fmt"
	"regexp"

	"github.com/sward-iot/sward/shared/strictjson"
)

// Root is the first level of every Sward topic.
const Root = "sward"

// Topic filters the IoT rules subscribe to.
const (
	TelemetryFilter        = Root + "/+/telemetry/+"
	DeploymentStatusFilter = Root + "/+/deployments/status"
	FleetStatusFilter      = Root + "/+/health"
)

// SQLVersion is the rules SQL version of both rules. Without it IoT Core
// uses 2015-10-08, whose semantics differ.
const SQLVersion = "2016-03-23"

// TelemetryRuleSQL is the telemetry rule. Its output, the telemetry
// Lambda's event, is {"data": base64 of the payload, "thing": topic(2),
// "stream": topic(4), "receivedAt": epoch ms}; shared/telemetry.RuleEvent
// decodes it.
const TelemetryRuleSQL = "SELECT encode(*, 'base64') AS data, topic(2) AS thing, topic(4) AS stream, timestamp() AS receivedAt FROM '" + TelemetryFilter + "'"

// DeploymentStatusRuleSQL is the deployment status rule. Its output, the
// deployment-events Lambda's event, is the device's status message with
// "thing" (topic(2)) and "receivedAt" (epoch ms) added;
// shared/deploymentstatus.DecodeEvent decodes it.
const DeploymentStatusRuleSQL = "SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM '" + DeploymentStatusFilter + "'"

// FleetStatusRuleSQL is the fleet status rule. Its output, the
// deployment-events Lambda's event, is the device's fleet status message
// (shared/fleetstatus) with "thing" (topic(2)) and "receivedAt" (epoch ms)
// added; shared/fleetstatus.DecodeEvent decodes it.
const FleetStatusRuleSQL = "SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM '" + FleetStatusFilter + "'"

// Telemetry is the topic a device publishes a telemetry stream's batches on.
func Telemetry(thing, stream string) string {
	return Root + "/" + thing + "/telemetry/" + stream
}

// Alerts is the topic the cloud publishes a device's alerts on.
func Alerts(thing string) string { return Root + "/" + thing + "/alerts" }

// DeploymentStatus is the topic a device reports deployment status on.
func DeploymentStatus(thing string) string { return Root + "/" + thing + "/deployments/status" }

// Health is the topic a device reports its health on: the fleet status
// messages of shared/fleetstatus.
func Health(thing string) string { return Root + "/" + thing + "/health" }

// FleetStatus is the topic a device's nucleus (edge/fleet) publishes its
// fleet status on; the same as Health.
func FleetStatus(thing string) string { return Health(thing) }

// MaxThingNameLength and MaxStreamLength bound the names in a topic.
// Thing names are AWS IoT's 128; streams get 64, which keeps the longest
// telemetry topic (209 bytes) under IoT Core's 256-byte topic limit.
const (
	MaxThingNameLength = 128
	MaxStreamLength    = 64
)

var (
	thingChars  = regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`)
	streamChars = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

// ValidateThingName returns an error unless name is an AWS IoT thing name:
// 1 to 128 letters, digits, ':', '_' and '-'.
func ValidateThingName(name string) error {
	if len(name) == 0 || len(name) > MaxThingNameLength || !thingChars.MatchString(name) {
		return fmt.Errorf("%q is not a thing name; use 1 to %d letters, digits, ':', '_' and '-' (an AWS IoT thing name)", strictjson.Truncate(name), MaxThingNameLength)
	}
	return nil
}

// ValidateStream returns an error unless name is a telemetry stream name:
// 1 to 64 letters, digits, '.', '_' and '-'. Streams are one topic level
// and a column of the telemetry archive, so no '/', '+', '#' or spaces.
func ValidateStream(name string) error {
	if len(name) == 0 || len(name) > MaxStreamLength || !streamChars.MatchString(name) {
		return fmt.Errorf("%q is not a stream name; use 1 to %d letters, digits, '.', '_' and '-'", strictjson.Truncate(name), MaxStreamLength)
	}
	return nil
}

// CloudLinkStateSubject is the local bus subject (NATS, not IoT Core) on
// which the nucleus's IoT Core connection (edge/iotcore) publishes its
// state as JSON whenever it connects or loses the connection:
// {"connected", "connectedSince", "endpoint", "clientId", "connections",
// "lastError", "lastErrorAt", "lastDrop", "lastDropAt", "spoolMessages",
// "spoolBytes", "spoolMaxBytes"}.
const CloudLinkStateSubject = "sward.cloud.state"

// Timestamps in device messages and rule events are epoch milliseconds
// within these bounds; anything outside is a clock or unit mistake.
const (
	MinTimestampMs = 946684800000  // 2000-01-01T00:00:00Z
	MaxTimestampMs = 4102444800000 // 2100-01-01T00:00:00Z
)

// CheckRuleEvent adds to p what is wrong with the two fields the status
// rules add to a device's message: thing (topic(2) AS thing) and
// receivedAt (timestamp() AS receivedAt, epoch ms).
func CheckRuleEvent(p *strictjson.Problems, thing string, receivedAt int64) {
	if err := ValidateThingName(thing); err != nil {
		p.Add("thing", "%v; the rule must select topic(2) AS thing", err)
	}
	if receivedAt < MinTimestampMs || receivedAt >= MaxTimestampMs {
		p.Add("receivedAt", "is %d; the rule must select timestamp() AS receivedAt (epoch ms)", receivedAt)
	}
}
