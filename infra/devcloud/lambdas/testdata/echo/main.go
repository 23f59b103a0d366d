// Command echo is the lambdas package's test function: it answers with its
// process id and the event, fails when the event says so, and takes
// sleepMs first when the event gives it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (map[string]any, error) {
		var in struct {
			Fail    bool `json:"fail"`
			SleepMs int  `json:"sleepMs"`
		}
		_ = json.Unmarshal(ev, &in)
		fmt.Printf("echo handling %s\n", ev)
		time.Sleep(time.Duration(in.SleepMs) * time.Millisecond)
		if in.Fail {
			return nil, errors.New("asked to fail")
		}
		return map[string]any{"pid": os.Getpid(), "event": ev, "env": os.Getenv("SWARD_TEST")}, nil
	})
}
