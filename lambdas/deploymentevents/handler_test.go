package deploymentevents

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/sward-iot/sward/lambdas/internal/lambdatest"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/deploymentstatus"
)

func unreachableHandler(t testing.TB) (*Handler, *lambdatest.Log) {
	cfg := lambdatest.Unreachable(t)
	log := lambdatest.NewLog("deployment-events")
	return &Handler{DB: dynamodb.NewFromConfig(cfg), IoT: iot.NewFromConfig(cfg), ReleasesTable: "releases", StatusTable: "status", Log: log.Logger}, log
}

func hostileEvents(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hostile.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

func TestHostileEventsAreDroppedWithAReasonOrRefusedWhenNotJSON(t *testing.T) {
	for _, event := range hostileEvents(t) {
		t.Run(string(event), func(t *testing.T) {
			h, log := unreachableHandler(t)
			res, err := h.Handle(context.Background(), event)
			if lambdakit.CheckEvent(event) != nil {
				// Not JSON at all: the rules never send that.
				if !errors.Is(err, lambdakit.ErrRefused) || res.Outcome != Malformed {
					t.Fatalf("Handle = %+v, %v; want MALFORMED and lambdakit.ErrRefused", res, err)
				}
				return
			}
			if err != nil || res.Outcome != Malformed {
				t.Fatalf("Handle = %+v, %v; want MALFORMED without error (and without touching AWS)", res, err)
			}
			if rec := log.Find(t, "deployment status refused"); rec == nil || rec["reason"] == "" {
				t.Errorf("no reason logged: %v", log.Records(t))
			}
		})
	}
}

func TestStoreFailureIsInternal(t *testing.T) {
	h, log := unreachableHandler(t)
	data, err := os.ReadFile(filepath.Join("testdata", "failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Handle(context.Background(), data)
	if err != lambdakit.ErrInternal {
		t.Fatalf("err = %v, want lambdakit.ErrInternal", err)
	}
	if rec := log.Find(t, "read device status"); rec == nil || rec["level"] != "ERROR" {
		t.Errorf("the cause is not logged: %v", log.Records(t))
	}
}

func TestStatusOnlyMovesForward(t *testing.T) {
	ev := func(s deploymentstatus.Status, ts int64) *deploymentstatus.Event {
		return &deploymentstatus.Event{Message: deploymentstatus.Message{Status: s, Timestamp: ts}}
	}
	cur := func(s deploymentstatus.Status, ts int64) *current { return &current{status: s, timestamp: ts} }
	for _, tc := range []struct {
		name string
		ev   *deploymentstatus.Event
		cur  *current
		want bool
	}{
		{"first message", ev(deploymentstatus.InProgress, 10), nil, true},
		{"newer", ev(deploymentstatus.Succeeded, 20), cur(deploymentstatus.InProgress, 10), true},
		{"older", ev(deploymentstatus.InProgress, 5), cur(deploymentstatus.InProgress, 10), false},
		{"final status wins a tie", ev(deploymentstatus.Failed, 10), cur(deploymentstatus.InProgress, 10), true},
		{"in progress loses a tie", ev(deploymentstatus.InProgress, 10), cur(deploymentstatus.InProgress, 10), false},
		{"a final status is never left", ev(deploymentstatus.InProgress, 99), cur(deploymentstatus.Succeeded, 10), false},
		{"nor replaced by another final one", ev(deploymentstatus.Failed, 99), cur(deploymentstatus.Succeeded, 10), false},
	} {
		if got := supersedes(tc.ev, tc.cur); got != tc.want {
			t.Errorf("%s: supersedes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHistoryKeysSortByTime(t *testing.T) {
	a := HistoryKey("sward-x", 999999999999, deploymentstatus.InProgress)
	b := HistoryKey("sward-x", 1767229200000, deploymentstatus.Failed)
	if !(a < b) {
		t.Errorf("%q sorts after %q", a, b)
	}
}

func FuzzHandle(f *testing.F) {
	for _, e := range hostileEvents(f) {
		f.Add(e)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "failed.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	h, _ := unreachableHandler(f)
	f.Fuzz(func(t *testing.T, event []byte) {
		res, err := h.Handle(context.Background(), event)
		if errors.Is(err, lambdakit.ErrRefused) {
			if lambdakit.CheckEvent(event) == nil {
				t.Fatalf("Handle refused a JSON event: %q", event)
			}
			return
		}
		if err != nil && !errors.Is(err, lambdakit.ErrInternal) {
			t.Fatalf("Handle returned %v", err)
		}
		if err != nil && res.Outcome == Malformed {
			t.Fatal("a malformed event failed the invocation")
		}
	})
}

func TestHistoryRowsExpireTheRetentionAfterTheyWereReceived(t *testing.T) {
	ev := &deploymentstatus.Event{Thing: "pi-1", ReceivedAt: 1767225601500,
		Message: deploymentstatus.Message{JobID: "sward-abc", Status: deploymentstatus.Succeeded, Timestamp: 1767225600000}}
	h := &Handler{StatusTable: "status", HistoryRetention: 365 * 24 * time.Hour}
	got, ok := h.historyPut(ev).item[AttrExpiresAt].(*types.AttributeValueMemberN)
	if want := strconv.FormatInt(1767225601+365*24*3600, 10); !ok || got.Value != want {
		t.Errorf("history row %s = %v, want %s (receivedAt + 365 days, epoch seconds)", AttrExpiresAt, got, want)
	}
	h.HistoryRetention = 0
	if v, ok := h.historyPut(ev).item[AttrExpiresAt]; ok {
		t.Errorf("with no retention the history row has %s = %v", AttrExpiresAt, v)
	}
	// The device's current status never expires.
	h.HistoryRetention = time.Hour
	if u := h.currentUpdate(ev, nil); strings.Contains(*u.UpdateExpression, "#exp") || u.ExpressionAttributeValues[":exp"] != nil {
		t.Errorf("current status update sets an expiry: %s", *u.UpdateExpression)
	}
}
