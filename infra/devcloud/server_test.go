package devcloud

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRefusesARuleItCannotRunNamingTheRuleAndTheConstruct(t *testing.T) {
	tests := []struct {
		name, rule string
		want       []string
	}{
		{"unsupported SQL", `{"RuleName":"my_rule","TopicRulePayload":{"AwsIotSqlVersion":"2016-03-23","Sql":"SELECT upper(a) AS b FROM 'x'","Actions":[]}}`,
			[]string{"my_rule", "upper()"}},
		{"another SQL version", `{"RuleName":"old_rule","TopicRulePayload":{"Sql":"SELECT * FROM 'x'","Actions":[]}}`,
			[]string{"old_rule", "2016-03-23"}},
		{"an action devcloud does not run", `{"RuleName":"queue_rule","TopicRulePayload":{"AwsIotSqlVersion":"2016-03-23","Sql":"SELECT * FROM 'x'","Actions":[{"Sqs":{"QueueUrl":"q","RoleArn":"r"}}]}}`,
			[]string{"queue_rule", "unsupported rule action: Sqs"}},
		{"an error action devcloud does not run", `{"RuleName":"err_rule","TopicRulePayload":{"AwsIotSqlVersion":"2016-03-23","Sql":"SELECT * FROM 'x'","Actions":[{"Republish":{"Topic":"y","RoleArn":"r"}}],"ErrorAction":{"Sns":{"TargetArn":"t","RoleArn":"r"}}}}`,
			[]string{"err_rule", "ErrorAction: unsupported rule action: Sns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tmpl := filepath.Join(dir, "template.json")
			if err := os.WriteFile(tmpl, []byte(`{"Resources":{"Rule":{"Type":"AWS::IoT::TopicRule","Properties":`+tt.rule+`}}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{Template: tmpl, DataDir: filepath.Join(dir, "data")})
			if err == nil {
				t.Fatal("New accepted the rule")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to name %q", err, w)
				}
			}
		})
	}
}
