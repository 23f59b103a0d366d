// Package authz owns identity and authorization for components: each
// deployed component's broker identity (a user "component:<name>" with a
// password and private inbox, rotated for every new session, and the MQTT
// client ids reserved to it), the Registry that holds the deployed set and
// pushes those users to the broker, and the accessControl policies of the
// component configuration: ParseACL and CheckAccessControl (what a
// deployment or `sward recipe validate` refuses), the Greengrass operation
// names each service id may grant, the Greengrass resource matching used to
// authorize IPC calls, and the translation of pubsub and shadow grants into
// broker permissions (with the nucleus-only subjects always denied).
//
// The IPC front end (edge/ipc) calls it through its own narrow Authorizer
// interface; the deployment engine and the supervisor through
// deployment.Identities and lifecycle.Sessions.
package authz
