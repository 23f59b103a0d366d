package strictjson

import (
	"errors"
	"testing"
)

// TestFieldErrorNamesFileAndPath: an error reads file: path: message,
// leaving out what is empty, and wraps its sentinel.
func TestFieldErrorNamesFileAndPath(t *testing.T) {
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{"message only", FieldError{Msg: "is empty"}, "is empty"},
		{"path", FieldError{Path: "records[3].value", Msg: "is null"}, "records[3].value: is null"},
		{"file", FieldError{File: "r.yaml", Msg: "recipe is empty"}, "r.yaml: recipe is empty"},
		{"file and path", FieldError{File: "r.yaml", Path: "Manifests[1].Lifecycle", Msg: "is a list"}, "r.yaml: Manifests[1].Lifecycle: is a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.err.Err = ErrInvalid
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if !errors.Is(&tc.err, ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", &tc.err)
			}
		})
	}
}
