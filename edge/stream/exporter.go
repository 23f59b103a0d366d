package stream

import (
	"context"
	"fmt"
	"reflect"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/shared/ipc"
)

// ExporterFactory starts the exports of one stream (edge/stream/export
// provides them; the nucleus adapts export.Start to this type). The Manager
// calls it when a stream with an exportDefinition is created or loaded at
// Start, and again when an update changes the exportDefinition (after
// stopping nothing: the old Exporter is stopped once the new one runs).
// ctx lives until the Manager shuts down.
type ExporterFactory func(ctx context.Context, spec ExportSpec) (Exporter, error)

// ExportSpec is what an exporter needs to read one stream.
type ExportSpec struct {
	// StreamName is the stream manager name, JetStreamName and Subject
	// where its messages are (payload = message data, sequence = JetStream
	// sequence).
	StreamName    string
	JetStreamName string
	Subject       string
	Definition    ipc.ExportDefinition
	// JetStream is the Manager's handle on the broker.
	JetStream jetstream.JetStream
}

// Exporter is a running set of exports of one stream.
type Exporter interface {
	// Stop stops the exports and returns when they have stopped.
	Stop()
	// Status reports each export's progress for DescribeMessageStream.
	Status() []ipc.ExportStatus
}

// checkExportDefinition validates an export definition (nil: none).
func checkExportDefinition(d *ipc.ExportDefinition) *ipc.Error {
	if d == nil {
		return nil
	}
	if err := d.Validate(); err != nil {
		if e, ok := err.(*ipc.Error); ok {
			return ipc.Errorf(e.Code, "definition.%s", e.Message)
		}
		return ipc.Errorf(ipc.CodeInvalidArguments, "definition.%v", err)
	}
	return nil
}

// checkExporters refuses an exportDefinition this Manager cannot run.
func (m *Manager) checkExporters(d ipc.MessageStreamDefinition) *ipc.Error {
	if d.ExportDefinition != nil && m.opts.Exporters == nil {
		return ipc.Errorf(ipc.CodeInvalidArguments, "stream %q has an exportDefinition, but this nucleus runs no exporters: remove exportDefinition", d.Name)
	}
	return nil
}

func (m *Manager) startExporter(st *managed) (Exporter, error) {
	if m.opts.Exporters == nil {
		// Only at Start, for a stream stored with exports by a nucleus that
		// had exporters: keep serving it, without exports.
		m.log.Warn("stream has an exportDefinition but no exporters are configured: not exporting", "stream", st.def.Name)
		return nil, nil
	}
	e, err := m.opts.Exporters(m.ctx, ExportSpec{
		StreamName:    st.def.Name,
		JetStreamName: st.jsName,
		Subject:       st.subject,
		Definition:    *st.def.ExportDefinition,
		JetStream:     m.js,
	})
	if err != nil {
		return nil, fmt.Errorf("start exports of %q: %w", st.def.Name, err)
	}
	return e, nil
}

// sameExport reports whether two export definitions are equal, so an
// update that leaves exports alone does not restart them.
func sameExport(a, b *ipc.ExportDefinition) bool { return reflect.DeepEqual(a, b) }
