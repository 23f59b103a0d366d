package recipe

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDigestIsBase64OfSHA256AsOpensslPrintsIt(t *testing.T) {
	// printf hello | openssl dgst -sha256 -binary | base64
	const want = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
	if got := Digest([]byte("hello")); got != want {
		t.Errorf("Digest(hello) = %s, want %s", got, want)
	}
	f := filepath.Join(t.TempDir(), "a.bin")
	if err := os.WriteFile(f, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := FileDigest(f); err != nil || got != want {
		t.Errorf("FileDigest = %s, %v; want %s", got, err, want)
	}
	if _, err := FileDigest(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("FileDigest of a missing file: no error")
	}
}
