package rules

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/infra/devcloud/template"
	"github.com/sward-iot/sward/internal/testutil"
)

func TestCompileRefusesWhatDevcloudDoesNotRunNamingTheRuleAndTheConstruct(t *testing.T) {
	base := func() template.TopicRule {
		return template.TopicRule{LogicalID: "R", Name: "r1", SQL: "SELECT * FROM 'a/+'", SQLVersion: "2016-03-23",
			Actions: []map[string]any{{"Lambda": map[string]any{"FunctionArn": "arn:aws:lambda:us-east-1:1:function:f"}}}}
	}
	for _, tt := range []struct {
		name   string
		change func(*template.TopicRule)
		want   string
	}{
		{"an action kind", func(r *template.TopicRule) {
			r.Actions = []map[string]any{{"Kinesis": map[string]any{"StreamName": "s"}}}
		}, "unsupported rule action: Kinesis"},
		{"an action property", func(r *template.TopicRule) {
			r.Actions = []map[string]any{{"Republish": map[string]any{"Topic": "x", "Headers": map[string]any{}}}}
		}, "unsupported rule action: Republish property Headers"},
		{"an error action kind", func(r *template.TopicRule) {
			r.ErrorAction = map[string]any{"Sqs": map[string]any{"QueueUrl": "q"}}
		}, "ErrorAction: unsupported rule action: Sqs"},
		{"a SQL version", func(r *template.TopicRule) { r.SQLVersion = "2015-10-08" }, "AwsIotSqlVersion"},
		{"a SQL function", func(r *template.TopicRule) { r.SQL = "SELECT upper(a) AS b FROM 'a/+'" }, "function upper()"},
		{"a substitution function", func(r *template.TopicRule) {
			r.Actions = []map[string]any{{"Republish": map[string]any{"Topic": "x/${lower(topic())}"}}}
		}, "function lower()"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(&r)
			_, err := Compile(r)
			if err == nil || !strings.Contains(err.Error(), "rule r1 (R)") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name rule r1 (R) and %q", err, tt.want)
			}
		})
	}
}

type refusingInvoker struct{}

func (refusingInvoker) InvokeAsync(ref string, _ []byte, _ string) (string, error) {
	return "", errors.New("ResourceNotFoundException: function not found: " + ref)
}

type published struct {
	topic   string
	payload []byte
	qos     byte
}

func TestAFailedActionSendsAWSsErrorMessageToTheErrorAction(t *testing.T) {
	rule, err := Compile(template.TopicRule{Name: "r1", SQL: "SELECT temp, topic(2) AS thing FROM 'sward/+/telemetry/+'", SQLVersion: "2016-03-23",
		Actions: []map[string]any{
			{"Lambda": map[string]any{"FunctionArn": "arn:aws:lambda:us-east-1:1:function:gone"}},
			{"Republish": map[string]any{"Topic": "copy/${topic(2)}", "Qos": 1.0}},
		},
		ErrorAction: map[string]any{"Republish": map[string]any{"Topic": "errors/${topic(2)}"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan published, 4)
	e := NewEngine(context.Background(), []*Rule{rule}, &Clients{
		Lambda:  refusingInvoker{},
		Publish: func(topic string, payload []byte, qos byte) error { got <- published{topic, payload, qos}; return nil },
	}, nil)
	original := []byte(`{"temp":21.5}`)
	e.Handle(Message{Topic: "sward/dev1/telemetry/env", Payload: original, ClientID: "dev1", Now: time.Now()})

	byTopic := map[string]published{}
	for range 2 {
		p := testutil.Receive(t, got, "a republished message")
		byTopic[p.topic] = p
	}
	if p := byTopic["copy/dev1"]; string(p.payload) != `{"temp":21.5,"thing":"dev1"}` || p.qos != 1 {
		t.Errorf("republish = %+v, want the SELECT result on copy/dev1 at QoS 1", p)
	}
	var msg errorMessage
	if err := json.Unmarshal(byTopic["errors/dev1"].payload, &msg); err != nil {
		t.Fatalf("error action payload %s: %v", byTopic["errors/dev1"].payload, err)
	}
	if msg.RuleName != "r1" || msg.Topic != "sward/dev1/telemetry/env" || msg.ClientID != "dev1" || msg.CloudwatchTraceID == "" ||
		msg.Base64OriginalPayload != base64.StdEncoding.EncodeToString(original) {
		t.Errorf("error message = %+v", msg)
	}
	testutil.Eventually(t, "the rule's counts", func() error {
		c := e.Counts()
		if len(c) != 1 || c[0].Name != "r1" || c[0].Fired != 1 || c[0].Failures != 1 || !strings.Contains(c[0].LastError, "LambdaAction arn:aws:lambda:us-east-1:1:function:gone") {
			return fmt.Errorf("counts %+v, want r1 fired once with the Lambda action's failure", c)
		}
		return nil
	})
	e.Handle(Message{Topic: "other/topic", Payload: original})
	if c := e.Counts(); c[0].Fired != 1 {
		t.Errorf("a message outside FROM counted as fired: %+v", c)
	}
	if len(msg.Failures) != 1 || msg.Failures[0].FailedAction != "LambdaAction" ||
		msg.Failures[0].FailedResource != "arn:aws:lambda:us-east-1:1:function:gone" || !strings.Contains(msg.Failures[0].ErrorMessage, "ResourceNotFoundException") {
		t.Errorf("failures = %+v, want the Lambda action's, naming the function and the error", msg.Failures)
	}
}

func TestSubstitutionTemplatesExpandOnTheMessage(t *testing.T) {
	sub, err := ParseSubstitution("archive/${topic(2)}/${get(meta, 'id')}-${n}.json")
	if err != nil {
		t.Fatal(err)
	}
	got := sub.Expand(Message{Topic: "sward/dev1/telemetry/env", Payload: []byte(`{"meta":{"id":"x7"},"n":3}`)})
	if want := "archive/dev1/x7-3.json"; got != want {
		t.Errorf("Expand = %q, want %q", got, want)
	}
}
