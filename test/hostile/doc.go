// Package hostile attacks a real nucleus the way a hostile component or a
// hostile local client would, and proves each attack refused: every test
// starts the sward binary (test/harness), deploys components written into
// temporary recipe folders (shell scripts or test tools), lets them try
// what the threat model forbids and checks the outcome from outside.
package hostile
