package iotcore

import (
	"time"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds PublishToIoTCore and SubscribeToIoTCore to t. s may be
// nil, a nucleus without a link: then both answer ServiceError naming the
// configuration that starts one. Neither is fast: a QoS 1 publish waits
// for the spool, a subscription for IoT Core's SUBACK.
func (s *Service) RegisterIPC(t *op.Table) {
	t.Register(wire.OpPublishToIoTCore, op.Operation{Handle: s.publishToIoTCore})
	t.Register(wire.OpSubscribeToIoTCore, op.Operation{Handle: s.subscribeToIoTCore})
}

// answerWithin bounds how long an IoT Core operation waits for the spool
// or for IoT Core (a SUBACK, a QoS 0 send), below the Go client's default
// 5 s timeout: the caller gets an answer it can act on, not a timeout.
var answerWithin = 4 * time.Second // a variable for tests

// errNoLink is the answer of the IoT Core operations on a nucleus with no
// link configured, or whose link could not start.
func errNoLink(opName string) error {
	return wire.Errorf(wire.CodeService, "%s: this nucleus has no AWS IoT Core link: start it with `sward run --config FILE` where the file names "+
		"services.aws.greengrass.Nucleus.configuration.iotDataEndpoint and the device certificate (system.certificateFilePath, privateKeyPath, rootCaPath); "+
		"if it does, the nucleus log says why the link did not start", opName)
}

// ipcQoS reads Greengrass's QoS strings.
func ipcQoS(q string) (byte, error) {
	switch q {
	case wire.QoSAtMostOnce:
		return 0, nil
	case wire.QoSAtLeastOnce:
		return 1, nil
	case "":
		return 0, wire.Errorf(wire.CodeInvalidArguments, "qos is missing: send \"0\" (at most once) or \"1\" (at least once)")
	}
	return 0, wire.Errorf(wire.CodeInvalidArguments, "qos %q is not one IoT Core supports: send \"0\" (at most once) or \"1\" (at least once)", q)
}
