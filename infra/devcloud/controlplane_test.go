package devcloud

import "testing"

func TestParseS3URLReadsTheObjectURLFormsIoTJobsTakes(t *testing.T) {
	tests := []struct {
		url, bucket, key string
		wantErr          bool
	}{
		{"https://s3.amazonaws.com/releases/jobs/doc.json", "releases", "jobs/doc.json", false},
		{"https://s3.us-east-1.amazonaws.com/releases/doc.json", "releases", "doc.json", false},
		{"https://releases.s3.amazonaws.com/a/b.json", "releases", "a/b.json", false},
		{"https://releases.s3.eu-west-1.amazonaws.com/b.json", "releases", "b.json", false},
		{"s3://releases/doc.json", "releases", "doc.json", false},
		{"https://example.com/releases/doc.json", "", "", true},
		{"https://s3.amazonaws.com/releases", "", "", true},
		{"not a url at all", "", "", true},
	}
	for _, tt := range tests {
		bucket, key, err := parseS3URL(tt.url)
		if (err != nil) != tt.wantErr || bucket != tt.bucket || key != tt.key {
			t.Errorf("parseS3URL(%q) = %q, %q, %v; want %q, %q, error %v", tt.url, bucket, key, err, tt.bucket, tt.key, tt.wantErr)
		}
	}
}
