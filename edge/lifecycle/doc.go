// Package lifecycle is the component supervisor of the Sward nucleus.
//
// It owns the processes of every component: it runs the lifecycle steps of a
// Greengrass-format recipe (Bootstrap, Install, Startup, Run, Shutdown,
// Recover, and Uninstall when a component is removed) as child processes (`/bin/sh -c <script>`) in the component's work
// folder, moves each component through the Greengrass states (see State),
// restarts it after errors until it is BROKEN, orders starts and stops by HARD
// dependencies, and writes every line a step prints to a rotated per-component
// log file.
//
// The package knows nothing about recipe files or deployments: the nucleus
// translates a selected, interpolated recipe lifecycle into a Component and
// hands the desired set to Supervisor.Apply.
//
// Usage:
//
//	sup, err := lifecycle.New(lifecycle.Options{WorkDir: w, LogDir: l, StateDir: s})
//	err = sup.Apply([]lifecycle.Component{...}) // non-blocking
//	st, err := sup.WaitFor(ctx, "com.example.Hello", lifecycle.StateRunning)
//	err = sup.Shutdown(ctx)
//
// The supervisor is Linux-first: a cgroup per component (when the nucleus is
// root), process groups, Pdeathsig and the child subreaper attribute are what
// guarantee that no component process outlives a stop, a restart or the
// supervisor itself; the cgroup also enforces the component's resource
// limits and is what Pause freezes. See README.md and cgroup.go.
//
// The IPC operations on components are here too (ipc_*.go, registered by
// RegisterIPC): UpdateState, PauseComponent and ResumeComponent, and the
// aws.greengrass.Cli operations ListComponents, GetComponentDetails,
// RestartComponent and StopComponent.
package lifecycle
