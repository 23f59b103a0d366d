// Package hostile is the hostile-component suite: each test deploys real
// component processes (shell scripts or small Go programs such as
// test/hostile/actor, built by the test) on a real nucleus started through
// test/harness, reproduces one attack a component or a local client could
// make on the device, and proves it refused.
package hostile
