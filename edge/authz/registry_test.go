package authz

import (
	"slices"
	"testing"

	"github.com/sward-iot/sward/edge/broker"
)

func TestRegistryAuthorizesDeployedComponentsByTheirACLAndReportsRemovals(t *testing.T) {
	var pushed []broker.User
	r := NewRegistry(func(users []broker.User) error { pushed = users; return nil }, nil)
	var removed []string
	r.OnRemoved(func(component string) { removed = append(removed, component) })
	pub := map[string]any{"accessControl": map[string]any{ServicePubSub: map[string]any{
		"p1": map[string]any{"operations": []any{"aws.greengrass#PublishToTopic"}, "resources": []any{"a/+"}},
	}}}
	if err := r.Set(map[string]map[string]any{"com.example.A": pub, "com.example.B": {}}); err != nil {
		t.Fatal(err)
	}
	if len(pushed) != 2 || !r.Known("com.example.A") || !r.Known("com.example.B") {
		t.Fatalf("after Set: %d users pushed, A known %v, B known %v; want 2 users, both known", len(pushed), r.Known("com.example.A"), r.Known("com.example.B"))
	}
	if !r.Allows("com.example.A", ServicePubSub, "PublishToTopic", "a/b") {
		t.Error("A's policy grants PublishToTopic on a/+, but a/b is refused")
	}
	if r.Allows("com.example.A", ServicePubSub, "SubscribeToTopic", "a/b") || r.Allows("com.example.B", ServicePubSub, "PublishToTopic", "a/b") {
		t.Error("a grant no policy gives is allowed")
	}
	if err := r.Set(map[string]map[string]any{"com.example.A": pub}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"com.example.B"}) || r.Known("com.example.B") {
		t.Errorf("removed = %q (B known %v), want [com.example.B] reported and B unknown", removed, r.Known("com.example.B"))
	}
}
