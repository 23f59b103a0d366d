package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	dptypes "github.com/aws/aws-sdk-go-v2/service/iotdataplane/types"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// syncedDevice is a provisioned nucleus whose link to devcloud goes through
// a proxy the test can cut, with the shadow manager's sync configured for
// the core thing's classic shadow and its named shadow "cfg".
type syncedDevice struct {
	d      *harness.Devcloud
	proxy  *testutil.Proxy
	config string
	root   string
	data   *iotdataplane.Client
}

func startSyncedDevice(t testing.TB) *syncedDevice {
	t.Helper()
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	out := filepath.Join(t.TempDir(), "device")
	if text, err := provision(t, d, "--thing-name", "test-thing", "--out", out); err != nil {
		t.Fatalf("sward provision: %v\n%s", err, text)
	}
	config := filepath.Join(out, "config.yaml")
	f, _, err := devconfig.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cloud()
	proxy := testutil.StartProxy(t, net.JoinHostPort(c.DataEndpoint, strconv.Itoa(c.Port)))
	f.Nucleus.IoTDataEndpoint = "127.0.0.1" // the proxy; devcloud's certificate names it
	f.Nucleus.MQTT.Port = proxy.Port()
	classic := true
	f.ShadowManager = devconfig.ShadowManager{Synchronize: &devconfig.Synchronize{
		CoreThing: &devconfig.SyncShadows{Classic: &classic, NamedShadows: []string{"cfg"}},
		Direction: "betweenDeviceAndCloud",
	}}
	data, err := devconfig.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return &syncedDevice{d: d, proxy: proxy, config: config, root: t.TempDir(),
		data: iotdataplane.NewFromConfig(d.Info.AWSConfig(), func(o *iotdataplane.Options) {
			o.BaseEndpoint = aws.String(d.Info.Endpoints.IoTDataHTTP)
		})}
}

func (s *syncedDevice) start(t testing.TB) *harness.Nucleus {
	t.Helper()
	return harness.StartAt(t, s.root, "", "", "--config", s.config)
}

// cloudReported is the cloud shadow's reported section as JSON, "absent"
// when there is no shadow.
func (s *syncedDevice) cloudReported(name string) (string, error) {
	in := &iotdataplane.GetThingShadowInput{ThingName: aws.String("test-thing")}
	if name != "" {
		in.ShadowName = aws.String(name)
	}
	out, err := s.data.GetThingShadow(context.Background(), in)
	var nf *dptypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	return section(out.Payload, "reported")
}

func section(doc []byte, name string) (string, error) {
	var d struct {
		State map[string]json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return "", fmt.Errorf("%s: %w", doc, err)
	}
	return string(d.State[name]), nil
}

// localShadow sends a request to the nucleus's local shadow service and
// returns the answer.
func localShadow(t testing.TB, n *harness.Nucleus, name, op, payload string) []byte {
	t.Helper()
	subject := "$aws.things.test-thing.shadow."
	if name != "" {
		subject += "name." + name + "."
	}
	m, err := n.AdminConn().Request(subject+op, []byte(payload), 10*time.Second)
	if err != nil {
		t.Fatalf("local shadow %s: %v", op, err)
	}
	if strings.Contains(string(m.Data), `"code":`) {
		t.Fatalf("local shadow %s %s: %s", op, payload, m.Data)
	}
	return m.Data
}

func TestShadowsSyncWithDevcloudAndChangesMadeOfflineOnBothSidesSyncAfterAKill9(t *testing.T) {
	s := startSyncedDevice(t)
	n := s.start(t)

	// Real time, both ways, classic and named.
	localShadow(t, n, "", "update", `{"state":{"reported":{"temp":21}}}`)
	harness.Eventually(t, 30*time.Second, "the local update in the cloud shadow", func() error {
		got, err := s.cloudReported("")
		if err == nil && got != `{"temp":21}` {
			err = fmt.Errorf("cloud reported %s", got)
		}
		return err
	})
	if _, err := s.data.UpdateThingShadow(context.Background(), &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("test-thing"),
		ShadowName: aws.String("cfg"), Payload: []byte(`{"state":{"desired":{"interval":5}}}`)}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the cloud update in the local named shadow", func() error {
		got, err := section(localShadow(t, n, "cfg", "get", ""), "desired")
		if err == nil && got != `{"interval":5}` {
			err = fmt.Errorf("local desired %s", got)
		}
		return err
	})

	// Offline: the update is accepted locally and cannot reach the cloud;
	// then the nucleus dies with it pending.
	s.proxy.Cut()
	localShadow(t, n, "", "update", `{"state":{"reported":{"temp":25}}}`)
	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus did not die of SIGKILL")
	}
	if got, err := s.cloudReported(""); err != nil || got != `{"temp":21}` {
		t.Fatalf("cloud reported %s, %v while the link was cut: want the old {\"temp\":21}", got, err)
	}

	// The cloud changes too while the nucleus is down.
	if _, err := s.data.UpdateThingShadow(context.Background(), &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("test-thing"),
		ShadowName: aws.String("cfg"), Payload: []byte(`{"state":{"desired":{"interval":9}}}`)}); err != nil {
		t.Fatal(err)
	}

	// After the restart the full sync finds both changes and syncs them.
	s.proxy.Restore()
	n = s.start(t)
	harness.Eventually(t, 30*time.Second, "the update made before kill -9 in the cloud shadow", func() error {
		got, err := s.cloudReported("")
		if err == nil && got != `{"temp":25}` {
			err = fmt.Errorf("cloud reported %s", got)
		}
		return err
	})
	harness.Eventually(t, 30*time.Second, "the cloud's update made while the nucleus was down in the local shadow", func() error {
		got, err := section(localShadow(t, n, "cfg", "get", ""), "desired")
		if err == nil && got != `{"interval":9}` {
			err = fmt.Errorf("local desired %s", got)
		}
		return err
	})
}

func TestABadShadowSyncConfigurationIsLoggedAndTheNucleusRunsWithoutIt(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte(`services:
  aws.greengrass.ShadowManager:
    configuration:
      synchronize:
        coreThing: {classic: true}
        direction: sideways
`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := harness.Start(t, "", "", "--config", config)
	// The nucleus runs: its local shadows answer.
	localShadow(t, n, "", "update", `{"state":{"reported":{"up":true}}}`)
	harness.Eventually(t, 10*time.Second, "the sync's refusal in the log", func() error {
		for _, line := range strings.Split(n.Output(), "\n") {
			if strings.Contains(line, "shadow sync not started") &&
				strings.Contains(line, `services.aws.greengrass.ShadowManager.configuration.synchronize.direction: \"sideways\" is not a direction`) {
				return nil
			}
		}
		return fmt.Errorf("no log line naming synchronize.direction")
	})
}

// BenchmarkLocalShadowUpdateToDevcloud is the end-to-end figure of
// docs/performance.md: an update of the local classic shadow (a NATS
// request to the nucleus, as the CLI sends) until devcloud's shadow
// service returns it (its HTTP GetThingShadow, polled without pause), the
// real binary and devcloud on loopback, one update after the other and
// 60 ms apart: below the local shadows' 20 requests/s per thing (the
// answer would be a 429), the link's 100 publishes/s and the sync's 100
// requests/s, so no update waits for a token.
func BenchmarkLocalShadowUpdateToDevcloud(b *testing.B) {
	s := startSyncedDevice(b)
	n := s.start(b)
	nc := n.AdminConn()
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		time.Sleep(60 * time.Millisecond)
		start := time.Now()
		m, err := nc.Request("$aws.things.test-thing.shadow.update", fmt.Appendf(nil, `{"state":{"reported":{"i":%d}}}`, i), 10*time.Second)
		if err != nil || strings.Contains(string(m.Data), `"code":`) {
			b.Fatalf("local update %d: %v %s", i, err, m.Data)
		}
		want := fmt.Sprintf(`{"i":%d}`, i)
		for deadline := start.Add(30 * time.Second); ; {
			if got, err := s.cloudReported(""); err == nil && got == want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("update %d not in the cloud shadow within 30 s", i)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
