package shadowsync

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func obj(t *testing.T, s string) object {
	t.Helper()
	if s == "" {
		return nil
	}
	var o object
	if err := decode([]byte(s), &o); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return o
}

func js(o any) string {
	b, _ := json.Marshal(o)
	return string(b)
}

func TestMerge3KeepsChangesOfBothSidesAndGivesConflictsToTheOwner(t *testing.T) {
	tests := []struct {
		name, local, cloud, base string
		win                      owner
		want                     string
	}{
		{"different keys", `{"a":2,"b":1}`, `{"a":1,"b":3}`, `{"a":1,"b":1}`, ownerCloud, `{"a":2,"b":3}`},
		{"same key, cloud owns", `{"a":2}`, `{"a":3}`, `{"a":1}`, ownerCloud, `{"a":3}`},
		{"same key, device owns", `{"a":2}`, `{"a":3}`, `{"a":1}`, ownerLocal, `{"a":2}`},
		{"deleted on one side", `{"b":1}`, `{"a":1,"b":1}`, `{"a":1,"b":1}`, ownerCloud, `{"b":1}`},
		{"deleted on one, changed on the other: the owner", `{}`, `{"a":5}`, `{"a":1}`, ownerLocal, `{}`},
		{"added on both sides", `{"x":1}`, `{"y":2}`, ``, ownerCloud, `{"x":1,"y":2}`},
		{"first sync, same key", `{"x":1}`, `{"x":2}`, ``, ownerLocal, `{"x":1}`},
		{"nested objects merge", `{"o":{"a":2,"b":1}}`, `{"o":{"a":1,"b":2}}`, `{"o":{"a":1,"b":1}}`, ownerCloud, `{"o":{"a":2,"b":2}}`},
		{"arrays are values", `{"l":[1,2]}`, `{"l":[1]}`, `{"l":[1]}`, ownerCloud, `{"l":[1,2]}`},
		{"1 equals 1.0", `{"n":1.0}`, `{"n":2}`, `{"n":1}`, ownerLocal, `{"n":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := js(merge3(obj(t, tt.local), obj(t, tt.cloud), obj(t, tt.base), tt.win)); got != tt.want {
				t.Errorf("merge3 = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOverwriteGivesTheTargetTheSourceAndKeepsOnlyWhatTheTargetAloneHad(t *testing.T) {
	tests := []struct {
		name, source, target, base, want string
	}{
		{"source wins every key it has", `{"a":1}`, `{"a":9,"t":1}`, `{"a":1}`, `{"a":1,"t":1}`},
		{"deleted at the source since the sync", `{}`, `{"a":1}`, `{"a":1}`, `{}`},
		{"nested", `{"o":{"a":1}}`, `{"o":{"a":2,"t":3}}`, `{"o":{"a":1}}`, `{"o":{"a":1,"t":3}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := js(overwrite(obj(t, tt.source), obj(t, tt.target), obj(t, tt.base))); got != tt.want {
				t.Errorf("overwrite = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTheUpdateDocumentTurnsOneSideIntoTheOther(t *testing.T) {
	cur := state{Desired: obj(t, `{"a":1,"o":{"x":1,"y":2}}`), Reported: obj(t, `{"r":1}`)}
	want := state{Desired: obj(t, `{"a":1,"o":{"x":1,"z":3}}`)}
	got := string(updateDocument(cur, want, 7, "tok"))
	if got != `{"clientToken":"tok","state":{"desired":{"o":{"y":null,"z":3}},"reported":{"r":null}},"version":7}` {
		t.Errorf("update document = %s", got)
	}
	if doc := updateDocument(want, want, 7, ""); doc != nil {
		t.Errorf("update document between equal states = %s, want none", doc)
	}
}

func TestTheConfigurationIsCheckedKeyByKey(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    string // the shadows, or the error's words
		wantErr bool
	}{
		{"core classic and named", Config{CoreThing: &Document{Classic: true, NamedShadows: []string{"b", "a"}}}, "dev1 (classic) dev1/a dev1/b", false},
		{"documents, duplicates once", Config{Documents: []Document{{Thing: "lamp", Classic: true}, {Thing: "lamp", Classic: true, NamedShadows: []string{"x"}}}}, "lamp (classic) lamp/x", false},
		{"bad direction", Config{Direction: "sideways"}, `synchronize.direction: "sideways" is not a direction: use betweenDeviceAndCloud`, true},
		{"bad thing", Config{Documents: []Document{{Thing: "a/b", Classic: true}}}, "synchronize.shadowDocuments[0].thingName", true},
		{"bad shadow name", Config{CoreThing: &Document{NamedShadows: []string{"no spaces"}}}, `synchronize.coreThing.namedShadows[0]: "no spaces" is not a shadow name`, true},
		{"periodic without delay", Config{Strategy: Periodic}, "strategy.delay: a periodic strategy needs a delay", true},
		{"unknown strategy", Config{Strategy: "sometimes"}, `strategy.type: "sometimes" is not a strategy`, true},
		{"negative rate", Config{MaxOutboundPerSecond: -1}, "rateLimits.maxOutboundSyncUpdatesPerSecond", true},
		{"periodic with delay", Config{Strategy: Periodic, Delay: time.Second}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shadows, err := tt.cfg.Shadows("dev1")
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ConfigPath) {
					t.Errorf("error = %v, want one naming %s and %q", err, ConfigPath, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range shadows {
				names = append(names, s.String())
			}
			if got := strings.Join(names, " "); got != tt.want {
				t.Errorf("shadows = %q, want %q", got, tt.want)
			}
		})
	}
}
