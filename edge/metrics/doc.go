// Package metrics is the nucleus's Prometheus registry and its /metrics
// endpoint (loopback only; a taken port is retried in the background): the
// Go runtime and process figures, the IPC front end's request counts and
// latencies (ObserveRequest), and the metrics components put with the IPC
// operation PutComponentMetric (ipc_put_component_metric.go), bounded per
// component and forgotten with it (Forget).
package metrics
