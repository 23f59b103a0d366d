// Command telemetry is the telemetry Lambda: it wires AWS clients and the
// environment into lambdas/telemetry.Handler. See lambdas/README.md for its
// environment variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/lambdas/telemetry"
	sharedtelemetry "github.com/sward-iot/sward/shared/telemetry"
)

func main() {
	ctx := context.Background()
	log := lambdakit.NewLogger(os.Stdout, "telemetry")
	bucket, err := lambdakit.Required("SWARD_TELEMETRY_BUCKET", "the telemetry archive bucket's name")
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	table, err := lambdakit.Required("SWARD_TELEMETRY_STATE_TABLE", "the telemetry state table's name")
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	thresholds, err := sharedtelemetry.ParseThresholds(os.Getenv("SWARD_THRESHOLDS"))
	if err != nil {
		lambdakit.Fatal(log, "SWARD_THRESHOLDS", err)
	}
	cfg, err := lambdakit.AWSConfig(ctx)
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	endpoint, err := telemetry.DataEndpoint(ctx, os.Getenv("SWARD_IOT_DATA_ENDPOINT"), cfg, iot.NewFromConfig(cfg))
	if err != nil {
		lambdakit.Fatal(log, "IoT data endpoint", err)
	}
	data := iotdataplane.NewFromConfig(cfg, func(o *iotdataplane.Options) {
		if endpoint != nil { // nil keeps AWS_ENDPOINT_URL
			o.BaseEndpoint = endpoint
		}
	})
	h := &telemetry.Handler{
		S3:         s3.NewFromConfig(cfg),
		DB:         dynamodb.NewFromConfig(cfg),
		IoT:        data,
		Bucket:     bucket,
		StateTable: table,
		Thresholds: thresholds,
		Log:        log,
	}
	log.Info("ready", "bucket", bucket, "stateTable", table, "thresholds", len(thresholds))
	lambda.Start(h.Handle)
}
