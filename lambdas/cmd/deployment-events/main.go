// Command deployment-events is the deployment-events Lambda: it wires AWS
// clients and the environment into lambdas/deploymentevents.Handler. See
// lambdas/README.md for its environment variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/sward-iot/sward/lambdas/deploymentevents"
	"github.com/sward-iot/sward/lambdas/lambdakit"
)

func main() {
	log := lambdakit.NewLogger(os.Stdout, "deployment-events")
	releases, err := lambdakit.Required("SWARD_RELEASES_TABLE", "the releases table's name")
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	status, err := lambdakit.Required("SWARD_DEVICE_STATUS_TABLE", "the device status table's name")
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	cfg, err := lambdakit.AWSConfig(context.Background())
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	h := &deploymentevents.Handler{
		DB:            dynamodb.NewFromConfig(cfg),
		IoT:           iot.NewFromConfig(cfg),
		ReleasesTable: releases,
		StatusTable:   status,
		Log:           log,
	}
	log.Info("ready", "releasesTable", releases, "deviceStatusTable", status)
	lambda.Start(h.Handle)
}
