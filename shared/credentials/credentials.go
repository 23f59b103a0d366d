// Package credentials holds the two wire shapes of temporary AWS
// credentials that Sward both serves and reads: the AWS IoT credentials
// provider's answer to GET /role-aliases/<alias>/credentials (devcloud
// serves it, the nucleus's token exchange service reads it) and the
// container credentials document every AWS SDK reads from
// AWS_CONTAINER_CREDENTIALS_FULL_URI (the token exchange service serves it).
package credentials

// Provider is the IoT credentials provider's answer. Expiration is
// RFC 3339 with Z.
type Provider struct {
	Credentials struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
		Expiration      string `json:"expiration"`
	} `json:"credentials"`
}

// Container is the container credentials document. Expiration is
// RFC 3339 with Z.
type Container struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}
