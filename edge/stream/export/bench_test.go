package export

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// The export throughput figures in README.md:
//
//	go test -run '^$' -bench Export -benchtime 3x ./edge/stream/export/
//
// Each iteration appends benchMessages messages of benchSize bytes to a
// fresh stream, then times one Runner exporting all of them.
const (
	benchMessages = 20_000
	benchSize     = 256
)

func benchExport(b *testing.B, def func(i int) ipc.ExportDefinition, endpoint string) {
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		js, stop, err := startBroker(b.TempDir(), testlog.New(b))
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		name := fmt.Sprintf("bench%d", i)
		s, err := ensureStreams(ctx, js, name)
		if err == nil {
			err = appendMessages(ctx, js, s, name, benchMessages, benchSize)
		}
		if err != nil {
			b.Fatal(err)
		}
		cfg := awsConfig()
		b.StartTimer()
		start := time.Now()
		r, err := Start(ctx, Options{JetStream: js, Stream: jsStreamName(name), StreamName: name, Definition: def(i),
			AWS: &cfg, EndpointURL: endpoint, S3PathStyle: true, Logger: testlog.New(b)})
		if err != nil {
			b.Fatal(err)
		}
		for r.Status()[0].LastExportedSequenceNumber < benchMessages {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		r.Stop()
		stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchMessages*b.N)/total.Seconds(), "msgs/s")
}

func BenchmarkExportS3(b *testing.B) {
	endpoint := motoURL(b)
	bench := func(int) ipc.ExportDefinition {
		bucket := uniqueName("bench")
		createBucket(b, endpoint, bucket)
		return ipc.ExportDefinition{S3: []ipc.S3Config{{ExportCommon: ipc.ExportCommon{Identifier: "s3"}, Bucket: bucket}}}
	}
	benchExport(b, bench, endpoint)
}

func BenchmarkExportKinesis(b *testing.B) {
	endpoint := motoURL(b)
	bench := func(int) ipc.ExportDefinition {
		stream := uniqueName("bench")
		createKinesisStream(b, endpoint, stream, 1)
		return kinesisDef(stream, ipc.MaxKinesisBatchSize)
	}
	benchExport(b, bench, endpoint)
}

func BenchmarkExportHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	bench := func(int) ipc.ExportDefinition {
		return httpDef(srv.URL, ipc.ExportCommon{Identifier: "http"})
	}
	benchExport(b, bench, "")
}
