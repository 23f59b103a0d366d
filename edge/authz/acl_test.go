package authz

import (
	"strings"
	"testing"
)

func TestMatchResourceFollowsGreengrassWildcardsAndEscapes(t *testing.T) {
	for _, tc := range []struct {
		pattern, resource string
		want              bool
	}{
		{"*", "anything/at/all", true},
		{"com.example.Foo", "com.example.Foo", true},
		{"com.example.Foo", "com.example.FooBar", false},
		{"com.example.*", "com.example.Foo", true},
		{"com.example.*", "com.example", false},
		{"$aws/things/*/shadow", "$aws/things/pump/shadow", true},
		{"$aws/things/*/shadow", "$aws/things/pump/shadow/name/x", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"${*}", "*", true},
		{"${*}", "x", false},
		{"price${$}", "price$", true},
		{"what${?}", "what?", true},
		{"a*b*c", strings.Repeat("ab", 50000) + "x", false}, // linear: no backtracking blow-up
		{"a*b*c", "a" + strings.Repeat("b", 50000) + "c", true},
		{"*a*", "xxaxx", true},
		{"a*a", "a", false},
	} {
		if got := MatchResource(tc.pattern, tc.resource); got != tc.want {
			t.Errorf("MatchResource(%q, %q) = %v, want %v", tc.pattern, tc.resource, got, tc.want)
		}
	}
}

func TestTopicSubjectTranslatesMQTTFiltersNeverWider(t *testing.T) {
	for _, tc := range []struct {
		topic, subject string
		ok             bool
	}{
		{"a/b", "a.b", true},
		{"a/+/c", "a.*.c", true},
		{"a/#", "a.>", true},
		{"#", ">", true},
		{"*", ">", true},
		{"a/*", "a.>", true},
		{"a/*/c", "a.*.c", true},
		{"sensors.temp", "sensors.temp", true},
		{"a/b*", "", false},   // * inside a level: NATS cannot say it
		{"a/${*}", "", false}, // a literal * cannot be a NATS subject
		{"a//b", "", false},
		{"/a", "", false},
		{"a/#/b", "", false},
	} {
		got, ok := TopicSubject(tc.topic)
		if got != tc.subject || ok != tc.ok {
			t.Errorf("TopicSubject(%q) = %q, %v; want %q, %v", tc.topic, got, ok, tc.subject, tc.ok)
		}
	}
}

func TestParseACLKeepsGoodPoliciesAndNamesTheBadOnes(t *testing.T) {
	cfg := map[string]any{"accessControl": map[string]any{
		ServicePubSub: map[string]any{
			"good": map[string]any{"operations": []any{"aws.greengrass#PublishToTopic"}, "resources": []any{"a/#"}},
			"bad":  map[string]any{"operations": "aws.greengrass#PublishToTopic", "resources": []any{"b"}},
		},
		"aws.greengrass.Typo": map[string]any{},
	}}
	acl, errs := ParseACL("com.example", cfg)
	if len(acl.Policies) != 1 || acl.Policies[0].ID != "good" {
		t.Fatalf("policies = %+v, want only the good one", acl.Policies)
	}
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{"accessControl.aws.greengrass.ipc.pubsub.bad needs operations and resources as lists", `service "aws.greengrass.Typo": unknown accessControl service`} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors lack %q:\n%s", want, joined)
		}
	}
	if !acl.Allows(ServicePubSub, "PublishToTopic", "a/x") || acl.Allows(ServicePubSub, "SubscribeToTopic", "a/x") {
		t.Error("Allows does not follow the policy's operations")
	}
	if acl.Allows(ServiceCli, "ListComponents", "") {
		t.Error("a service without a policy is allowed (default must be deny)")
	}
}

func TestParseACLReadsGreengrassAndBareOperationNames(t *testing.T) {
	for _, tc := range []struct {
		name, service, op string
		grants            string // the bare operation granted; "" for none
		wantErr           string
	}{
		{"greengrass form", ServicePubSub, "aws.greengrass#PublishToTopic", "PublishToTopic", ""},
		{"bare name", ServicePubSub, "SubscribeToTopic", "SubscribeToTopic", ""},
		{"star", ServicePubSub, "*", "SubscribeToTopic", ""},
		{"shadow", ServiceShadowManager, "aws.greengrass#GetThingShadow", "GetThingShadow", ""},
		{"list named shadows", ServiceShadowManager, "aws.greengrass#ListNamedShadowsForThing", "ListNamedShadowsForThing", ""},
		{"cli", ServiceCli, "aws.greengrass#CreateLocalDeployment", "CreateLocalDeployment", ""},
		{"secret manager", ServiceSecretManager, "aws.greengrass#GetSecretValue", "GetSecretValue", ""},
		{"mqtt proxy", ServiceMQTTProxy, "aws.greengrass#PublishToIoTCore", "PublishToIoTCore", ""},
		{"lifecycle", ServiceLifecycle, "aws.greengrass#PauseComponent", "PauseComponent", ""},
		{"component metric", ServiceComponentMetric, "aws.greengrass#PutComponentMetric", "PutComponentMetric", ""},
		{"stream manager takes bare names", ServiceStreamManager, "AppendMessage", "AppendMessage", ""},
		{"typo", ServicePubSub, "aws.greengrass#PublishToTopik", "",
			`component com.example: accessControl policy "p1" of aws.greengrass.ipc.pubsub names unknown operation "aws.greengrass#PublishToTopik"; use one of aws.greengrass#PublishToTopic, aws.greengrass#SubscribeToTopic, "*"`},
		{"names are case-sensitive", ServicePubSub, "aws.greengrass#publishToTopic", "", `unknown operation "aws.greengrass#publishToTopic"`},
		{"operation of another service", ServicePubSub, "aws.greengrass#GetThingShadow", "", `unknown operation "aws.greengrass#GetThingShadow"`},
		{"stream manager is not a greengrass service", ServiceStreamManager, "aws.greengrass#AppendMessage", "",
			`unknown operation "aws.greengrass#AppendMessage"; use one of CreateMessageStream,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"accessControl": map[string]any{tc.service: map[string]any{
				"p1": map[string]any{"operations": []any{tc.op}, "resources": []any{"*"}},
			}}}
			acl, errs := ParseACL("com.example", cfg)
			err := CheckAccessControl("com.example", cfg)
			if tc.wantErr == "" {
				if len(errs) > 0 || err != nil {
					t.Fatalf("errors %v, check %v; want none", errs, err)
				}
				if !acl.Allows(tc.service, tc.grants, "x") {
					t.Errorf("%q does not grant %s", tc.op, tc.grants)
				}
				return
			}
			if len(acl.Policies) != 0 {
				t.Errorf("policies = %+v, want the policy left out", acl.Policies)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckAccessControl = %v, want an error containing %s", err, tc.wantErr)
			}
		})
	}
}

func TestCheckAccessControlLetsUnknownServicesThrough(t *testing.T) {
	cfg := map[string]any{"accessControl": map[string]any{
		"aws.greengrass.clientdevices.Auth": map[string]any{
			"p1": map[string]any{"operations": []any{"aws.greengrass#VerifyClientDeviceIdentity"}, "resources": []any{"*"}},
		},
		ServicePubSub: map[string]any{
			"p2": map[string]any{"operations": []any{"aws.greengrass#PublishToTopic", "aws.greengrass#Publish"}, "resources": []any{"a"}},
		},
	}}
	err := CheckAccessControl("com.example", cfg)
	if err == nil || strings.Contains(err.Error(), "clientdevices") || !strings.Contains(err.Error(), `"aws.greengrass#Publish"`) {
		t.Fatalf("CheckAccessControl = %v, want only the unknown pubsub operation refused", err)
	}
	acl, _ := ParseACL("com.example", cfg)
	if !acl.Allows(ServicePubSub, "PublishToTopic", "a") {
		t.Error("the known operation of a policy with an unknown one is not granted")
	}
}

func TestOverlapsFindsSubjectsMatchingBothFilters(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{">", "$aws.things.x", true},
		{"a.out.>", "$aws.>", false},
		{"a.*.c", "a.b.>", true},
		{"a.b", "a.b.>", false},
		{"a.*", "*.b", true},
		{"sward.ipc.com.example.*", "sward.ipc.com.example.Foo.*", false},
		{"sward.ipc.com.example.Foo.*", "sward.>", true},
		{"x.y", "x.y", true},
		{"x.y", "x.z", false},
	} {
		if got := overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := overlaps(tc.b, tc.a); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}
