package ipc

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
			"good": map[string]any{"operations": []any{"PublishToTopic"}, "resources": []any{"a/#"}},
			"bad":  map[string]any{"operations": "PublishToTopic", "resources": []any{"b"}},
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
	for _, want := range []string{"accessControl.aws.greengrass.ipc.pubsub.bad needs operations and resources as lists", `service "aws.greengrass.Typo" is unknown`} {
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

func TestDiffPathsListsChangedLeaves(t *testing.T) {
	a := map[string]any{"x": 1.0, "o": map[string]any{"p": 1.0, "q": 2.0}, "gone": true}
	b := map[string]any{"x": 1.0, "o": map[string]any{"p": 5.0, "q": 2.0}, "new": map[string]any{"n": 1.0}}
	var got []string
	for _, p := range diffPaths(nil, a, b) {
		got = append(got, strings.Join(p, "/"))
	}
	if strings.Join(got, ",") != "gone,new/n,o/p" {
		t.Errorf("diffPaths = %v, want [gone new/n o/p]", got)
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
