// Package secrets is the nucleus's secret manager, Greengrass's
// aws.greengrass.SecretManager: it fetches the secrets the device
// configuration names (cloudSecrets ARNs) from AWS Secrets Manager with the
// token exchange service's credentials, on start, after every deployment
// that ends (it follows the deployment records), on Refresh and for one
// secret on GetSecretValue with refresh, keeps them
// encrypted at rest under the root, and serves them to components over the
// IPC (GetSecretValue) under the aws.greengrass.SecretManager accessControl,
// from the store when the cloud cannot be reached.
//
// The store is one file, <Dir>/secrets.enc (folder 0700, file 0600):
// a 12-byte nonce and the AES-256-GCM sealed JSON of the secrets. The key
// is bound to the device: HKDF-SHA256 over the DER bytes of the device's
// private key (the first PEM block of Options.KeyFile), no salt, info
// KeyInfo. Another device, or this one after its key is replaced, cannot
// read the file: the store is then dropped with a warning and filled again
// from the cloud. The file is written to a temporary name, synced, renamed
// over the old one and the folder synced, so a kill -9 leaves the old or
// the new store, never a torn one.
package secrets
