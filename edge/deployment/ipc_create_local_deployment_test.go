package deployment

import (
	"encoding/json"
	"strings"
	"testing"

	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestCreateLocalDeploymentBuildsTheDocumentFromTheRequest(t *testing.T) {
	req := wire.CreateLocalDeploymentRequest{
		RootComponentVersionsToAdd: map[string]string{"com.example.A": "1.2.0"},
		RootComponentsToRemove:     []string{"com.example.Old"},
		ComponentToConfiguration: map[string]json.RawMessage{
			"com.example.A": json.RawMessage(`{"MERGE": {"port": 1}}`),
			"com.example.B": json.RawMessage(`{"reset": [""]}`), // the document spelling works too
		},
		FailureHandlingPolicy: "DO_NOTHING",
	}
	doc, err := localDocument(req)
	if err != nil {
		t.Fatalf("localDocument: %v", err)
	}
	got, err := doc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"formatVersion":1,"groupName":"LOCAL","components":{` +
		`"com.example.A":{"componentVersion":"1.2.0","configurationUpdate":{"merge":{"port":1}}},` +
		`"com.example.B":{"configurationUpdate":{"reset":[""]}}},"componentsToRemove":["com.example.Old"],` +
		`"deploymentPolicies":{"failureHandlingPolicy":"DO_NOTHING","componentUpdatePolicy":{"action":"NOTIFY_COMPONENTS","timeoutInSeconds":60},"configurationValidationPolicy":{"timeoutInSeconds":30}}}`
	if string(got) != want {
		t.Errorf("document:\n got %s\nwant %s", got, want)
	}
}

func TestCreateLocalDeploymentNamesTheRequestFieldThatIsWrong(t *testing.T) {
	tests := []struct {
		name    string
		req     wire.CreateLocalDeploymentRequest
		wantErr string
	}{
		{"MERGE not an object", wire.CreateLocalDeploymentRequest{ComponentToConfiguration: map[string]json.RawMessage{
			"com.example.A": json.RawMessage(`{"MERGE": 5}`)}}, `componentToConfiguration["com.example.A"].MERGE: is the number 5`},
		{"unknown key", wire.CreateLocalDeploymentRequest{ComponentToConfiguration: map[string]json.RawMessage{
			"A": json.RawMessage(`{"UPDATE": {}}`)}}, `componentToConfiguration.A.UPDATE: is not a known field`},
		{"both spellings", wire.CreateLocalDeploymentRequest{ComponentToConfiguration: map[string]json.RawMessage{
			"A": json.RawMessage(`{"MERGE": {}, "merge": {}}`)}}, `is given twice, as "MERGE" and "merge"`},
		{"another group", wire.CreateLocalDeploymentRequest{GroupName: "fleet"}, `groupName "fleet": components create LOCAL deployments only`},
		{"add and remove one component", wire.CreateLocalDeploymentRequest{RootComponentVersionsToAdd: map[string]string{"A": "1.0.0"},
			RootComponentsToRemove: []string{"A"}}, `"A" is also in components`},
		{"unknown failure handling policy", wire.CreateLocalDeploymentRequest{FailureHandlingPolicy: "ROLLBACK_PLEASE"},
			`"ROLLBACK_PLEASE" is not a failure handling policy`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := localDocument(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("localDocument = %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
