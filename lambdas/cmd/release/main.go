// Command release is the release Lambda: it wires AWS clients and the
// environment into lambdas/release.Handler. See lambdas/README.md for its
// environment variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/lambdas/release"
)

func main() {
	log := lambdakit.NewLogger(os.Stdout, "release")
	table, err := lambdakit.Required("SWARD_RELEASES_TABLE", "the releases table's name")
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	cfg, err := lambdakit.AWSConfig(context.Background())
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	h := &release.Handler{
		S3:         s3.NewFromConfig(cfg),
		IoT:        iot.NewFromConfig(cfg),
		DB:         dynamodb.NewFromConfig(cfg),
		Table:      table,
		ThingGroup: os.Getenv("SWARD_THING_GROUP"),
		Log:        log,
	}
	log.Info("ready", "releasesTable", table, "thingGroup", h.ThingGroup)
	lambda.Start(h.Handle)
}
