package telemetry

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
)

// EndpointDescriber is the part of the IoT control plane client that finds
// the account's data endpoint.
type EndpointDescriber interface {
	DescribeEndpoint(ctx context.Context, in *iot.DescribeEndpointInput, opts ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error)
}

// DataEndpoint returns the IoT data plane endpoint URL to publish alerts
// to, once at cold start: configured (SWARD_IOT_DATA_ENDPOINT, a host or a
// URL), else the SDK's own endpoint override (AWS_ENDPOINT_URL, as tests
// and local emulators set it; nil keeps it), else the account's
// iot:Data-ATS endpoint from DescribeEndpoint. The data plane has one
// endpoint per account, which the SDK cannot derive from the region.
func DataEndpoint(ctx context.Context, configured string, cfg aws.Config, iotc EndpointDescriber) (*string, error) {
	if configured != "" {
		if !strings.Contains(configured, "://") {
			configured = "https://" + configured
		}
		return aws.String(configured), nil
	}
	if cfg.BaseEndpoint != nil {
		return nil, nil
	}
	out, err := iotc.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if err != nil {
		return nil, fmt.Errorf("describe the iot:Data-ATS endpoint (set SWARD_IOT_DATA_ENDPOINT to skip this call): %w", err)
	}
	if out.EndpointAddress == nil || *out.EndpointAddress == "" {
		return nil, fmt.Errorf("DescribeEndpoint returned no iot:Data-ATS address; set SWARD_IOT_DATA_ENDPOINT")
	}
	return aws.String("https://" + *out.EndpointAddress), nil
}
