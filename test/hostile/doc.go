// Package hostile attacks a real nucleus (the `sward` binary, through
// test/harness) the way a hostile component or a hostile local client
// would, and checks that each attack found in the least-privilege review is
// refused: every test reproduces one finding with real component processes
// built from recipes written into temporary folders.
package hostile
