// Package tes is the token exchange service: Greengrass's
// aws.greengrass.TokenExchangeService. It serves AWS credentials to the
// components that depend on that component name, on a loopback HTTP
// endpoint in the shape every AWS SDK's container credentials provider
// reads (AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN).
//
// Each such component gets its own random token (Env); a request without a
// token the service issued is refused with 403 and never sees credentials.
// The credentials come from the AWS IoT credentials provider
// (GET /role-aliases/<alias>/credentials over mutual TLS with the device's
// certificate), fetched by one request at a time and cached until five
// minutes before they expire, as Greengrass does; an error the provider
// answers is cached for a while too (client errors 2 minutes, server
// errors 1 minute) and passed on with the provider's status and reason,
// so a component that retries in a loop does not hammer the provider. The
// device certificate, key and CA are read at each request to the provider:
// a missing file is an answer naming it, never a stopped nucleus.
//
// Service is also an aws.CredentialsProvider (Retrieve) over the same
// cache, for the nucleus's own AWS clients (the stream exporters, the
// secret manager and the artifact downloads of edge/artifacts).
//
// Files: tes.go (options, lifecycle, tokens), credentials.go (the
// endpoint, the provider request and the cache).
package tes
