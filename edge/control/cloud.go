package control

import (
	"context"

	"github.com/sward-iot/sward/edge/iotcore"
)

// SubjectCloudStatus answers the state of the link to AWS IoT Core.
const SubjectCloudStatus = SubjectPrefix + ".cloud.status"

// CloudStatus is the link to AWS IoT Core as `sward cloud status` shows
// it: Configured is false when the nucleus runs without a link (no
// iotDataEndpoint in `sward run --config`, or the link could not start),
// and then the rest is empty.
type CloudStatus struct {
	Configured bool `json:"configured"`
	iotcore.State
}

// CloudStatus asks for the state of the link to AWS IoT Core.
func (c *Client) CloudStatus(ctx context.Context) (CloudStatus, error) {
	var out CloudStatus
	err := c.call(ctx, SubjectCloudStatus, struct{}{}, &out)
	return out, err
}

func (s *Server) cloudStatus([]byte) (any, *Error) {
	return s.backend.CloudStatus(context.Background()), nil
}
