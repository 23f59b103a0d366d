package deployment

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that no input makes Decode panic, that every error is a
// FieldError wrapping ErrInvalid or ErrTooLarge, and that every accepted
// document encodes, decodes again and encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, tc := range validDocuments {
		f.Add([]byte(tc.doc))
	}
	for _, tc := range invalidDocuments {
		if len(tc.doc) < 4096 {
			f.Add([]byte(tc.doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			if d != nil {
				t.Fatalf("Decode returned both a document and an error: %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge)) {
				t.Fatalf("error is not a FieldError wrapping a sentinel: %#v", err)
			}
			return
		}
		_ = d.RootComponents(map[string]string{"A": "1.0.0"})
		enc, err := d.Encode()
		if err != nil {
			t.Fatalf("accepted document does not encode: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Encode wrote what Decode refuses: %v\n%s", err, enc)
		}
		enc2, err := again.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable (%v):\n%s\n%s", err, enc, enc2)
		}
	})
}
