// Command deployment-events is the deployment-events Lambda: it wires AWS
// clients and the environment into lambdas/deploymentevents.Handler. See
// lambdas/README.md for its environment variables.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

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
	retention, err := historyRetention(os.Getenv("SWARD_HISTORY_RETENTION_DAYS"))
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	cfg, err := lambdakit.AWSConfig(context.Background())
	if err != nil {
		lambdakit.Fatal(log, "configuration", err)
	}
	h := &deploymentevents.Handler{
		DB:               dynamodb.NewFromConfig(cfg),
		IoT:              iot.NewFromConfig(cfg),
		ReleasesTable:    releases,
		StatusTable:      status,
		HistoryRetention: retention,
		Log:              log,
	}
	log.Info("ready", "releasesTable", releases, "deviceStatusTable", status, "historyRetention", retention.String())
	lambda.Start(h.Handle)
}

// historyRetention parses SWARD_HISTORY_RETENTION_DAYS: unset keeps history
// forever.
func historyRetention(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	days, err := strconv.Atoi(v)
	if err != nil || days < 1 {
		return 0, fmt.Errorf("SWARD_HISTORY_RETENTION_DAYS is %q: give a whole number of days of at least 1, or leave it unset to keep history forever", v)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}
