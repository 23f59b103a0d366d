package stream

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/shared/ipc"
)

// Limits and defaults of a stream definition: Greengrass's stream manager
// values, so that definitions written for Greengrass mean the same here.
const (
	// MaxNameLength is the longest stream name.
	MaxNameLength = 255
	// DefaultMaxSize is Greengrass's default maxSize, 256 MiB.
	DefaultMaxSize = 256 << 20
	// MinMaxSize is the smallest maxSize, 1 KiB.
	MinMaxSize = 1024
	// DefaultStreamSegmentSize is Greengrass's default, 16 MiB.
	DefaultStreamSegmentSize = 16 << 20
	// MinStreamSegmentSize and MaxStreamSegmentSize bound streamSegmentSize
	// (1 KiB to 2 GiB - 1).
	MinStreamSegmentSize = 1024
	MaxStreamSegmentSize = 1<<31 - 1
	// MinTimeToLiveMillis is the shortest timeToLiveMillis: one minute.
	MinTimeToLiveMillis = 60_000
	// MaxTimeToLiveMillis is Greengrass's longest, about 292 years: the
	// largest millisecond count whose nanoseconds fit in an int64.
	MaxTimeToLiveMillis = 9_223_372_036_854
)

// validName reports whether name uses only the characters Greengrass allows:
// ASCII letters and digits, space, ',', '.', '-' and '_'.
func checkName(field, name string) *ipc.Error {
	if name == "" {
		return ipc.Errorf(ipc.CodeInvalidArguments, "%s is empty: name the stream (1-%d characters)", field, MaxNameLength)
	}
	if len(name) > MaxNameLength {
		return ipc.Errorf(ipc.CodeInvalidArguments, "%s is %d characters long: use at most %d", field, len(name), MaxNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == ' ' || c == ',' || c == '.' || c == '-' || c == '_'
		if !ok {
			return ipc.Errorf(ipc.CodeInvalidArguments,
				"%s %q has the character %q at byte %d: use only ASCII letters, digits, space, ',', '.', '-' and '_'", field, name, rune(c), i)
		}
	}
	return nil
}

// normalize checks d and returns it with defaults filled in. Every problem
// is an InvalidArgumentsError naming the field.
func normalize(d ipc.MessageStreamDefinition) (ipc.MessageStreamDefinition, *ipc.Error) {
	if err := checkName("definition.name", d.Name); err != nil {
		return d, err
	}
	switch {
	case d.MaxSize == 0:
		d.MaxSize = DefaultMaxSize
	case d.MaxSize < MinMaxSize:
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.maxSize %d is below the minimum %d bytes: use at least %d, or 0 for the default %d", d.MaxSize, MinMaxSize, MinMaxSize, DefaultMaxSize)
	}
	switch {
	case d.StreamSegmentSize == 0:
		d.StreamSegmentSize = DefaultStreamSegmentSize
	case d.StreamSegmentSize < MinStreamSegmentSize || d.StreamSegmentSize > MaxStreamSegmentSize:
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.streamSegmentSize %d is out of range: use %d to %d bytes, or 0 for the default %d", d.StreamSegmentSize, MinStreamSegmentSize, MaxStreamSegmentSize, DefaultStreamSegmentSize)
	}
	if d.TimeToLiveMillis != 0 && (d.TimeToLiveMillis < MinTimeToLiveMillis || d.TimeToLiveMillis > MaxTimeToLiveMillis) {
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.timeToLiveMillis %d is out of range: use %d to %d milliseconds, or 0 to keep messages until maxSize needs room", d.TimeToLiveMillis, MinTimeToLiveMillis, int64(MaxTimeToLiveMillis))
	}
	switch d.StrategyOnFull {
	case ipc.RejectNewData, ipc.OverwriteOldestData:
	case "":
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.strategyOnFull is missing: set %q or %q", ipc.RejectNewData, ipc.OverwriteOldestData)
	default:
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.strategyOnFull %q is not a strategy: use %q or %q", d.StrategyOnFull, ipc.RejectNewData, ipc.OverwriteOldestData)
	}
	switch d.Persistence {
	case ipc.PersistenceFile, ipc.PersistenceMemory:
	case "":
		d.Persistence = ipc.PersistenceFile
	default:
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.persistence %q is not a persistence: use %q or %q", d.Persistence, ipc.PersistenceFile, ipc.PersistenceMemory)
	}
	if d.FlushOnWrite && d.Persistence == ipc.PersistenceMemory {
		return d, ipc.Errorf(ipc.CodeInvalidArguments, "definition.flushOnWrite is true on a Memory stream: a Memory stream never reaches the disk; use persistence File or drop flushOnWrite")
	}
	if err := checkExportDefinition(d.ExportDefinition); err != nil {
		return d, err
	}
	return d, nil
}

// durable reports whether appends to a stream with definition d wait for
// fsync.
func durable(d ipc.MessageStreamDefinition) bool {
	return d.FlushOnWrite && d.Persistence == ipc.PersistenceFile
}

// jetStreamConfig maps a normalized definition onto a JetStream stream.
func jetStreamConfig(d ipc.MessageStreamDefinition) (jetstream.StreamConfig, error) {
	def, err := json.Marshal(d)
	if err != nil {
		return jetstream.StreamConfig{}, fmt.Errorf("encode definition of %q: %w", d.Name, err)
	}
	cfg := jetstream.StreamConfig{
		Name:        JetStreamName(d.Name),
		Description: "Sward stream manager stream " + d.Name + " (edge/stream)",
		Subjects:    []string{Subject(d.Name)},
		Retention:   jetstream.LimitsPolicy,
		MaxBytes:    d.MaxSize,
		MaxMsgs:     -1,
		MaxAge:      time.Duration(d.TimeToLiveMillis) * time.Millisecond,
		Storage:     jetstream.FileStorage,
		Replicas:    1, // one nucleus, one server
		// AllowDirect lets ReadMessages fetch a batch in one request
		// without creating a consumer.
		AllowDirect: true,
		Metadata:    map[string]string{MetadataDefinition: string(def)},
	}
	if d.StrategyOnFull == ipc.RejectNewData {
		cfg.Discard = jetstream.DiscardNew
	} else {
		cfg.Discard = jetstream.DiscardOld
	}
	if d.Persistence == ipc.PersistenceMemory {
		cfg.Storage = jetstream.MemoryStorage
	}
	return cfg, nil
}

// definitionOf reads the definition back from a JetStream stream's config.
func definitionOf(cfg jetstream.StreamConfig) (ipc.MessageStreamDefinition, error) {
	var d ipc.MessageStreamDefinition
	raw, ok := cfg.Metadata[MetadataDefinition]
	if !ok {
		return d, fmt.Errorf("JetStream stream %s has no %q metadata: it was not created by the stream manager; delete it with `nats stream rm %s`", cfg.Name, MetadataDefinition, cfg.Name)
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return d, fmt.Errorf("JetStream stream %s: stored definition is not valid JSON (%v): delete the stream and create it again", cfg.Name, err)
	}
	return d, nil
}
