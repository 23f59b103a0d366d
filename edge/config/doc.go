// Package config owns component configuration on the device: the
// Greengrass rules for changing it (Apply, Upgrade) and its durable home
// (Store, a JetStream KV bucket).
//
// Semantics, following the Greengrass V2 guide "Update component
// configurations" and the nucleus source (KernelConfigResolver):
//
//	cfg := config.Upgrade(stored, oldRecipe.DefaultConfiguration, newRecipe.DefaultConfiguration)
//	cfg, err := config.Apply(cfg, newRecipe.DefaultConfiguration, update.Reset, update.Merge)
//
// Upgrade adds keys the (new) defaults bring and moves values nobody changed
// to their new default; Apply runs the resets, then the merge. A component
// new to the device passes nil as stored and starts from its defaults. See
// Apply and Upgrade for every rule and README.md for the decisions.
//
// The Store keeps one key per component name (names contain dots, which KV
// keys allow) holding the configuration as a JSON object. Writers use
// compare-and-swap on the key's revision (Put with expectedRevision;
// ErrConflict on a lost race). Snapshot and Restore give the deployment
// engine an exact rollback: a snapshot records components without a
// configuration as nil, and Restore deletes those again.
//
// The Store also owns what IPC does with configuration: Update is
// Greengrass's UpdateConfiguration (merge at a key path, refused with
// ErrStale when a key it touches was last updated with a later timestamp;
// the timestamps are stored in the component's KV entry with the values, so
// the rule holds across a restart), Lookup serves GetConfiguration from the
// cache a running Watch keeps, and Watch and ChangedPaths feed
// SubscribeToConfigurationUpdate (edge/events). The IPC operations
// GetConfiguration and UpdateConfiguration are here too (ipc_*.go,
// registered by RegisterIPC): they decode, keep a component off its own
// accessControl and map the store's errors to IPC codes.
//
// Durability. A Put, Delete or Restore that returned nil is in JetStream's
// file store. It survives kill -9 of the nucleus: nats-server has written
// it to the file before acknowledging, so the page cache holds it. It
// survives a power loss only once it is fsynced: with the broker's default
// (nats-server's sync interval, every 2 minutes) a power cut can lose up to
// the last 2 minutes of acknowledged writes; with broker Options.SyncAlways
// every acknowledged write survives. Each record in the store carries a
// checksum, and nats-server drops a torn last record when it starts, so a
// power cut leaves an older configuration, not a half-written one.
//
// Numbers come back from the Store as float64 (JSON has one number type),
// as in Greengrass, whose guide warns that integer values may turn into
// floating-point ones; integers above 2^53 lose precision.
package config
