package op

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestRegisterTheSameNameTwicePanics(t *testing.T) {
	tab := NewTable()
	h := func(context.Context, *Call) (any, error) { return struct{}{}, nil }
	tab.Register("Ping", Operation{Fast: true, Handle: h})
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Ping registered twice") {
			t.Fatalf("second Register(Ping) recovered %v; want a panic naming the operation", r)
		}
	}()
	tab.Register("Ping", Operation{Handle: h})
}

func TestLookupFindsWhatWasRegistered(t *testing.T) {
	tab := NewTable()
	tab.Register("Ping", Operation{Fast: true, Handle: func(context.Context, *Call) (any, error) { return "pong", nil }})
	o, ok := tab.Lookup("Ping")
	if !ok || !o.Fast {
		t.Fatalf("Lookup(Ping) = %+v, %v; want the fast operation", o, ok)
	}
	if _, ok := tab.Lookup("Pong"); ok {
		t.Fatal("Lookup(Pong) found an operation never registered")
	}
	if got := tab.Names(); len(got) != 1 || got[0] != "Ping" {
		t.Fatalf("Names() = %v; want [Ping]", got)
	}
}

func TestDecodeIsStrictAndNamesTheField(t *testing.T) {
	type request struct {
		State string `json:"state"`
	}
	tests := []struct {
		name     string
		body     string
		wantText string // "" means no error
	}{
		{"empty body is an empty object", ``, ""},
		{"known field", `{"state":"RUNNING"}`, ""},
		{"wrong type names the field", `{"state":5}`, `field "state"`},
		{"unknown field names the field", `{"state":"RUNNING","mood":"good"}`, `"mood"`},
		{"not JSON", `{"state":`, "not"},
		{"trailing data", `{} {}`, "data after its JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req request
			err := (&Call{Body: []byte(tt.body)}).Decode(&req)
			if tt.wantText == "" {
				if err != nil {
					t.Fatalf("Decode(%s) = %v; want nil", tt.body, err)
				}
				return
			}
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeInvalidArguments || !strings.Contains(we.Message, tt.wantText) {
				t.Fatalf("Decode(%s) = %v; want InvalidArgumentsError containing %q", tt.body, err, tt.wantText)
			}
		})
	}
}

// TestOpIsALeafEveryServiceMayImport: the contract imports only shared/
// and the standard library, so no service package pulls in the front end
// or another service by registering operations.
func TestOpIsALeafEveryServiceMayImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self, shared = "github.com/sward-iot/sward/edge/ipc/op", "github.com/sward-iot/sward/shared/"
	for _, dep := range strings.Fields(string(out)) {
		if dep != self && !strings.HasPrefix(dep, shared) {
			t.Errorf("edge/ipc/op depends on %s; it may import only shared/ and the standard library", dep)
		}
	}
}
