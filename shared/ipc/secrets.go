package ipc

// OpGetSecretValue reads a secret the nucleus's secret manager keeps
// (Greengrass's aws.greengrass.SecretManager).
const OpGetSecretValue = "GetSecretValue"

// GetSecretValueRequest names a secret by its ARN or name, optionally with
// a version id or a staging label (default: AWSCURRENT).
type GetSecretValueRequest struct {
	SecretID     string `json:"secretId"`
	VersionID    string `json:"versionId,omitempty"`
	VersionStage string `json:"versionStage,omitempty"`
	// Refresh asks for the secret's current version from Secrets Manager
	// before answering (the Device SDKs' refresh, default false); when the
	// cloud cannot be reached the stored version is served.
	Refresh bool `json:"refresh,omitempty"`
}

// GetSecretValueResponse is a secret: its ARN, version and labels, and
// its value.
type GetSecretValueResponse struct {
	SecretID     string      `json:"secretId"`
	VersionID    string      `json:"versionId"`
	VersionStage []string    `json:"versionStage"`
	SecretValue  SecretValue `json:"secretValue"`
}

// SecretValue holds exactly one of SecretString and SecretBinary (base64
// in JSON), as Secrets Manager stored it.
type SecretValue struct {
	SecretString *string `json:"secretString,omitempty"`
	SecretBinary []byte  `json:"secretBinary,omitempty"`
}
