package shadowsync

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
)

func core(named ...string) Config {
	return Config{CoreThing: &Document{Classic: true, NamedShadows: named}}
}

func TestALocalUpdateReachesTheCloudAndACloudUpdateReachesTheDevice(t *testing.T) {
	r := startRig(t, core("cfg"))
	local, cloud := r.localSide(), r.cloudSide()

	local.update(t, "", `{"state":{"reported":{"temp":21}}}`)
	cloud.waitState(t, "", `{"desired":null,"reported":{"temp":21}}`)

	cloud.update(t, "", `{"state":{"desired":{"fan":"on"}}}`)
	local.waitState(t, "", `{"desired":{"fan":"on"},"reported":{"temp":21}}`)

	// A named shadow syncs the same way, both ways.
	cloud.update(t, "cfg", `{"state":{"desired":{"interval":5}}}`)
	local.waitState(t, "cfg", `{"desired":{"interval":5},"reported":null}`)
	local.update(t, "cfg", `{"state":{"reported":{"interval":5}}}`)
	cloud.waitState(t, "cfg", `{"desired":{"interval":5},"reported":{"interval":5}}`)

	// /metrics counts them.
	r.idle()
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.sync.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	if got["sward_shadowsync_syncs_total"] < 4 || got["sward_shadowsync_failures_total"] != 0 || got["sward_shadowsync_pending"] != 0 ||
		got["sward_shadowsync_shadows"] != 2 || got["sward_shadowsync_requests_total"] < 4 {
		t.Errorf("metrics = %v, want at least 4 syncs and requests, no failure, nothing pending, 2 shadows", got)
	}
}

func TestChangesToDifferentKeysMadeOnBothSidesWhileOfflineAreBothKept(t *testing.T) {
	r := startRig(t, core())
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "", `{"state":{"desired":{"mode":"eco"},"reported":{"mode":"eco","temp":20}}}`)
	cloud.waitState(t, "", `{"desired":{"mode":"eco"},"reported":{"mode":"eco","temp":20}}`)

	r.cut()
	local.update(t, "", `{"state":{"reported":{"temp":22}}}`)
	cloud.update(t, "", `{"state":{"desired":{"fan":"on","mode":null}}}`)
	r.restore()

	want := `{"desired":{"fan":"on"},"reported":{"mode":"eco","temp":22}}`
	cloud.waitState(t, "", want)
	local.waitState(t, "", want)
}

// Greengrass's rule for betweenDeviceAndCloud: a conflict in desired goes
// to the cloud's value, one in reported to the device's.
func TestTheSameKeyChangedOnBothSidesWhileOfflineGoesToTheCloudInDesiredAndToTheDeviceInReported(t *testing.T) {
	r := startRig(t, core())
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "", `{"state":{"desired":{"level":1,"nested":{"a":1,"b":1}},"reported":{"level":1}}}`)
	cloud.waitState(t, "", `{"desired":{"level":1,"nested":{"a":1,"b":1}},"reported":{"level":1}}`)

	r.cut()
	local.update(t, "", `{"state":{"desired":{"level":2,"nested":{"a":2}},"reported":{"level":2}}}`)
	cloud.update(t, "", `{"state":{"desired":{"level":3,"nested":{"b":3}},"reported":{"level":3}}}`)
	r.restore()

	want := `{"desired":{"level":3,"nested":{"a":2,"b":3}},"reported":{"level":2}}`
	cloud.waitState(t, "", want)
	local.waitState(t, "", want)
}

func TestAnUpdateFromTheCloudIsNotEchoedBackAndEachSideKeepsItsOwnVersions(t *testing.T) {
	r := startRig(t, core("a", "b"))
	local, cloud := r.localSide(), r.cloudSide()
	for i := range 4 { // the cloud's shadow runs ahead in versions
		cloud.update(t, "a", fmt.Sprintf(`{"state":{"desired":{"n":%d}}}`, i))
	}
	local.waitState(t, "a", `{"desired":{"n":3},"reported":null}`)
	r.idle()
	l0, _ := local.get(t, "a")

	cloud.update(t, "a", `{"state":{"desired":{"n":4}}}`)
	local.waitState(t, "a", `{"desired":{"n":4},"reported":null}`)
	// A barrier: a later change of another shadow has synced, and nothing
	// is pending.
	local.update(t, "b", `{"state":{"reported":{"up":true}}}`)
	cloud.waitState(t, "b", `{"desired":null,"reported":{"up":true}}`)
	r.idle()

	c, _ := cloud.get(t, "a")
	l, _ := local.get(t, "a")
	if c.Version != 5 {
		t.Errorf("cloud version %d after 5 cloud updates, want 5: the sync wrote the change back to the cloud", c.Version)
	}
	if l.Version != l0.Version+1 {
		t.Errorf("local version went %d → %d for one cloud update, want +1", l0.Version, l.Version)
	}
}

func TestDeletesPropagateAsTheDirectionSays(t *testing.T) {
	tests := []struct {
		dir              Direction
		deleteOn         string
		wantLocal, wantC string
	}{
		{BetweenDeviceAndCloud, "device", "absent", "absent"},
		{BetweenDeviceAndCloud, "cloud", "absent", "absent"},
		{DeviceToCloud, "device", "absent", "absent"},
		{DeviceToCloud, "cloud", `{"desired":null,"reported":{"on":true}}`, "absent"},
		{CloudToDevice, "device", "absent", `{"desired":{"on":true},"reported":null}`},
		{CloudToDevice, "cloud", "absent", "absent"},
	}
	for _, tt := range tests {
		t.Run(string(tt.dir)+" delete on "+tt.deleteOn, func(t *testing.T) {
			cfg := core("s")
			cfg.Direction = tt.dir
			r := startRig(t, cfg)
			local, cloud := r.localSide(), r.cloudSide()
			src, dst := local, cloud
			doc, want := `{"state":{"reported":{"on":true}}}`, `{"desired":null,"reported":{"on":true}}`
			if tt.dir == CloudToDevice {
				src, dst = cloud, local
				doc, want = `{"state":{"desired":{"on":true}}}`, `{"desired":{"on":true},"reported":null}`
			}
			src.update(t, "s", doc)
			dst.waitState(t, "s", want)

			victim := local
			if tt.deleteOn == "cloud" {
				victim = cloud
			}
			victim.delete(t, "s")
			// A barrier on the classic shadow, synced in the same direction.
			src.update(t, "", `{"state":{"reported":{"barrier":1}}}`)
			dst.waitState(t, "", `{"desired":null,"reported":{"barrier":1}}`)
			r.idle()
			if got := local.state(t, "s"); got != tt.wantLocal {
				t.Errorf("device shadow = %s, want %s", got, tt.wantLocal)
			}
			if got := cloud.state(t, "s"); got != tt.wantC {
				t.Errorf("cloud shadow = %s, want %s", got, tt.wantC)
			}
		})
	}
}

func TestAOneWayDirectionNeverWritesTheSourceSide(t *testing.T) {
	cfg := core()
	cfg.Direction = DeviceToCloud
	r := startRig(t, cfg)
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "", `{"state":{"reported":{"a":1}}}`)
	cloud.waitState(t, "", `{"desired":null,"reported":{"a":1}}`)

	// The cloud's own change stays in the cloud; the device's next change
	// overwrites what it has and keeps what only the cloud has.
	cloud.update(t, "", `{"state":{"desired":{"cloudOnly":true},"reported":{"a":9}}}`)
	local.update(t, "", `{"state":{"reported":{"b":2}}}`)
	cloud.waitState(t, "", `{"desired":{"cloudOnly":true},"reported":{"a":1,"b":2}}`)
	r.idle()
	if got := local.state(t, ""); got != `{"desired":null,"reported":{"a":1,"b":2}}` {
		t.Errorf("device shadow = %s: a deviceToCloud sync wrote the cloud's change to the device", got)
	}
}

func TestKeysDeletedOnOneSideAreDeletedOnTheOther(t *testing.T) {
	r := startRig(t, core())
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "", `{"state":{"reported":{"a":1,"b":{"c":1,"d":2}}}}`)
	cloud.waitState(t, "", `{"desired":null,"reported":{"a":1,"b":{"c":1,"d":2}}}`)
	local.update(t, "", `{"state":{"reported":{"a":null,"b":{"d":null}}}}`)
	cloud.waitState(t, "", `{"desired":null,"reported":{"b":{"c":1}}}`)
	cloud.update(t, "", `{"state":{"reported":null}}`)
	local.waitState(t, "", `{"desired":null,"reported":null}`)
}

func TestChangesMadeWhileTheSyncServiceWasStoppedAreMergedWhenItStartsAgain(t *testing.T) {
	r := startRig(t, core("cfg"))
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "cfg", `{"state":{"reported":{"a":1}}}`)
	cloud.waitState(t, "cfg", `{"desired":null,"reported":{"a":1}}`)
	r.idle()
	if err := r.sync.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	local.update(t, "cfg", `{"state":{"reported":{"b":2}}}`)
	cloud.update(t, "cfg", `{"state":{"desired":{"c":3}}}`)
	r.startSync(core("cfg")) // a new service on the same records, as after a restart
	want := `{"desired":{"c":3},"reported":{"a":1,"b":2}}`
	cloud.waitState(t, "cfg", want)
	local.waitState(t, "cfg", want)
}

func TestOutboundRequestsStayWithinMaxOutboundSyncUpdatesPerSecond(t *testing.T) {
	names := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}
	cfg := core(names...)
	cfg.MaxOutboundPerSecond = 10
	r := startRig(t, cfg)
	local, cloud := r.localSide(), r.cloudSide()
	r.idle() // the start-up full sync (one get per shadow) is done
	before, start := r.sync.Stats().Requests, time.Now()
	for round := range 3 {
		for _, n := range names {
			local.update(t, n, fmt.Sprintf(`{"state":{"reported":{"round":%d}}}`, round))
		}
		for _, n := range names {
			cloud.waitState(t, n, fmt.Sprintf(`{"desired":null,"reported":{"round":%d}}`, round))
		}
	}
	sent, took := r.sync.Stats().Requests-before, time.Since(start)
	// A burst of one second's worth, then the rate.
	if allowed := 10 + 10*took.Seconds(); float64(sent) > allowed {
		t.Errorf("%d requests in %s, more than the %.0f maxOutboundSyncUpdatesPerSecond=10 allows", sent, took, allowed)
	}
	if sent < 30 {
		t.Errorf("%d requests for 30 changes, want at least one each", sent)
	}
}

func TestThePeriodicStrategySendsTheChangesOfAPeriodAsOneUpdate(t *testing.T) {
	cfg := core()
	cfg.Strategy, cfg.Delay = Periodic, 500*time.Millisecond
	r := startRig(t, cfg)
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "", `{"state":{"reported":{"a":0}}}`)
	cloud.waitState(t, "", `{"desired":null,"reported":{"a":0}}`)
	c0, _ := cloud.get(t, "")

	for i := 1; i <= 5; i++ {
		local.update(t, "", fmt.Sprintf(`{"state":{"reported":{"a":%d}}}`, i))
	}
	cloud.waitState(t, "", `{"desired":null,"reported":{"a":5}}`)
	c1, _ := cloud.get(t, "")
	if c1.Version-c0.Version > 2 {
		t.Errorf("five local updates made the cloud shadow go from version %d to %d: want them sent together (a period may split them once)", c0.Version, c1.Version)
	}
}

// losingLink is the real link, except that it loses what IoT Core sends
// after the first update it applies (/update/accepted and
// /update/documents), as a link that drops at that moment does: a fault
// the real parts cannot produce on demand.
type losingLink struct {
	*iotcore.Service
	lost atomic.Int32
}

func (l *losingLink) Subscribe(ctx context.Context, filter string, qos byte, h iotcore.Handler) (func(context.Context) error, error) {
	return l.Service.Subscribe(ctx, filter, qos, func(m iotcore.Message) {
		if (strings.HasSuffix(m.Topic, "/update/accepted") || strings.HasSuffix(m.Topic, "/update/documents")) && l.lost.Add(1) <= 2 {
			return
		}
		h(m)
	})
}

func TestACloudWriteWhoseAnswerWasLostIsRecognisedAsSyncedWhenItLanded(t *testing.T) {
	r := startRig(t, Config{})
	r.startSyncOn(core(), &losingLink{Service: r.link})
	local, cloud := r.localSide(), r.cloudSide()
	local.update(t, "", `{"state":{"desired":{"a":1}}}`)
	cloud.waitState(t, "", `{"desired":{"a":1},"reported":null}`)

	// The answer is lost; while the sync waits for it the device changes
	// a again. Had the lost answer left the empty base of the first sync,
	// a would be a conflict on the retry, and the cloud's value (the old
	// one the device wrote) would win in desired.
	local.update(t, "", `{"state":{"desired":{"a":3}}}`)
	cloud.waitState(t, "", `{"desired":{"a":3},"reported":null}`)
	r.idle()
	if got := local.state(t, ""); got != `{"desired":{"a":3},"reported":null}` {
		t.Errorf("device shadow = %s, want the device's own change kept", got)
	}
}

func TestAnotherThingsShadowsSyncAsTheCoreThingsDo(t *testing.T) {
	r := startRig(t, Config{Documents: []Document{{Thing: "lamp", Classic: true, NamedShadows: []string{"state"}}}})
	ctx := context.Background()
	if _, err := r.local.Update(ctx, "lamp", "state", []byte(`{"state":{"reported":{"on":true}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cloud.Update(ctx, "lamp", "", []byte(`{"state":{"desired":{"colour":"red"}}}`)); err != nil {
		t.Fatal(err)
	}
	// The core thing's shadow is not synced: none is configured for it.
	if _, err := r.local.Update(ctx, thing, "", []byte(`{"state":{"reported":{"core":1}}}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "lamp's shadows on both sides", func() error {
		if d, err := r.cloud.Get(ctx, "lamp", "state"); err != nil || !strings.Contains(string(d), `"reported":{"on":true}`) {
			return fmt.Errorf("cloud lamp/state: %s %v", d, err)
		}
		if d, err := r.local.Get(ctx, "lamp", ""); err != nil || !strings.Contains(string(d), `"desired":{"colour":"red"}`) {
			return fmt.Errorf("device lamp (classic): %s %v", d, err)
		}
		return nil
	})
	r.idle()
	if _, ok := r.cloudSide().get(t, ""); ok {
		t.Error("the core thing's classic shadow reached the cloud without being configured")
	}
}
