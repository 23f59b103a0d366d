package telemetry

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeBatchKeepsGoodRecordsAndNamesBadOnes(t *testing.T) {
	b, err := DecodeBatch([]byte(`{"formatVersion":1,"records":[
		{"metric":"temperature","value":21.5,"timestamp":1767225600000},
		{"metric":"temperature","value":"hot","timestamp":1767225600000},
		{"metric":"bad metric","value":1,"timestamp":1767225600000},
		{"metric":"humidity","value":40,"timestamp":1767225600},
		{"metric":"humidity","value":40},
		{"metric":"humidity","value":40,"timestamp":1767225601000,"unit":"%"},
		null,
		{"metric":"humidity","value":41,"timestamp":1767225601000}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 2 || b.Records[0].Metric != "temperature" || b.Records[1].Value != 41 {
		t.Errorf("good records = %+v, want temperature 21.5 and humidity 41", b.Records)
	}
	want := map[int]string{
		1: `records[1].value: is the text "hot"; write a number`,
		2: `records[2].metric: "bad metric" is not a metric name`,
		3: "records[3].timestamp: is 1767225600, which looks like epoch seconds; send epoch milliseconds",
		4: "records[4].timestamp: is missing; add it, such as 1767225600000",
		5: "records[5].unit: is not a known field",
		6: "records[6]: is null",
	}
	if len(b.Rejected) != len(want) {
		t.Fatalf("rejected %d records, want %d: %+v", len(b.Rejected), len(want), b.Rejected)
	}
	for _, r := range b.Rejected {
		if !strings.Contains(r.Err.Error(), want[r.Index]) {
			t.Errorf("record %d: error %q, want it to contain %q", r.Index, r.Err, want[r.Index])
		}
	}
}

func TestDecodeBatchRefusesWhatIsNotABatch(t *testing.T) {
	many := `{"formatVersion":1,"records":[` + strings.Repeat(`{"metric":"m","value":1,"timestamp":1767225600000},`, MaxRecords) + `{"metric":"m","value":1,"timestamp":1767225600000}]}`
	for _, tc := range []struct {
		name, input, want string
	}{
		{"not JSON", "temperature=21.5", "the telemetry batch is not valid JSON"},
		{"no formatVersion", `{"records":[]}`, "formatVersion: is missing"},
		{"newer format", `{"formatVersion":2,"readings":[]}`, "formatVersion: is 2; this Sward reads format 1 only"},
		{"no records", `{"formatVersion":1}`, "records: is missing"},
		{"empty records", `{"formatVersion":1,"records":[]}`, "records: is empty"},
		{"records not a list", `{"formatVersion":1,"records":{}}`, "records: is an object; write a list"},
		{"too many records", many, "over the limit of 1000; split the batch"},
		{"too large", `{"formatVersion":1,"records":[],"x":"` + strings.Repeat("x", MaxBatchSize) + `"}`, "over the 131072-byte limit"},
		{"message id with a slash", `{"formatVersion":1,"messageId":"a/b","records":[{"metric":"m","value":1,"timestamp":1767225600000}]}`, `messageId: "a/b" is not a message id`},
		{"message id too long", `{"formatVersion":1,"messageId":"` + strings.Repeat("a", MaxMessageIDLength+1) + `","records":[{"metric":"m","value":1,"timestamp":1767225600000}]}`, "use 1 to 64 letters"},
		{"message id not a string", `{"formatVersion":1,"messageId":7,"records":[{"metric":"m","value":1,"timestamp":1767225600000}]}`, "messageId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBatch([]byte(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBatchMessageIDIsOptionalAndRoundTrips(t *testing.T) {
	in := &Batch{FormatVersion: FormatVersion, MessageID: "0b8e7c1e-2f4a-4d6b-9a57-3c1f0e2d9b44", Records: []Record{{Metric: "t", Value: 1, Timestamp: MinTimestamp}}}
	data, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeBatch(data)
	if err != nil || out.MessageID != in.MessageID {
		t.Fatalf("round trip = %+v, %v; from %s", out, err, data)
	}
	in.MessageID = ""
	if data, err = in.Encode(); err != nil || strings.Contains(string(data), "messageId") {
		t.Errorf("a batch without an id encodes as %s, %v; want no messageId field", data, err)
	}
	in.MessageID = "has space"
	if _, err := in.Encode(); err == nil || !strings.Contains(err.Error(), "messageId") {
		t.Errorf("Encode with a bad id = %v, want an error naming messageId", err)
	}
}

func TestBatchEncodeDecodeRoundTrip(t *testing.T) {
	in := &Batch{FormatVersion: FormatVersion, Records: []Record{{Metric: "t", Value: -0.25, Timestamp: MinTimestamp}}}
	data, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeBatch(data)
	if err != nil || len(out.Records) != 1 || out.Records[0] != in.Records[0] {
		t.Fatalf("round trip = %+v, %v; from %s", out, err, data)
	}
	bad := &Batch{FormatVersion: FormatVersion, Records: []Record{{Metric: "", Value: 1, Timestamp: 1}}}
	if _, err := bad.Encode(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Encode of a bad batch = %v, want ErrInvalid", err)
	}
}

func TestDecodeRuleEvent(t *testing.T) {
	payload := base64.StdEncoding.EncodeToString([]byte(`not json`))
	for _, tc := range []struct {
		name, input, want string
	}{
		{"valid; the payload is not checked here", fmt.Sprintf(`{"data":%q,"thing":"pi-1","stream":"env","receivedAt":1767225600000}`, payload), ""},
		{"data not base64", `{"data":"%%%","thing":"pi-1","stream":"env","receivedAt":1767225600000}`, "data: is not base64"},
		{"thing with a wildcard", fmt.Sprintf(`{"data":%q,"thing":"+","stream":"env","receivedAt":1767225600000}`, payload), `thing: "+" is not a thing name`},
		{"receivedAt in seconds", fmt.Sprintf(`{"data":%q,"thing":"pi","stream":"env","receivedAt":1767225600}`, payload), "receivedAt: is 1767225600"},
		{"extra field", fmt.Sprintf(`{"data":%q,"thing":"pi","stream":"env","receivedAt":1767225600000,"topic":"x"}`, payload), "topic: is not a known field"},
		{"missing stream", fmt.Sprintf(`{"data":%q,"thing":"pi","receivedAt":1767225600000}`, payload), "stream: is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeRuleEvent([]byte(tc.input))
			if tc.want == "" {
				if err != nil || string(ev.Data) != "not json" {
					t.Fatalf("DecodeRuleEvent = %+v, %v", ev, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseThresholds(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{name: "unset", input: ""},
		{name: "min and max", input: `{"temperature":{"min":-20,"max":80}}`},
		{name: "z-score only", input: `{"vibration":{"zScore":5}}`},
		{name: "nothing set", input: `{"temperature":{}}`, want: "temperature: sets nothing; give min, max or zScore"},
		{name: "min above max", input: `{"temperature":{"min":90,"max":80}}`, want: "temperature.min: is 90, above max 80; swap them"},
		{name: "negative z", input: `{"t":{"zScore":-1}}`, want: "t.zScore: is -1; give a positive number"},
		{name: "typo", input: `{"t":{"maximum":1}}`, want: "t.maximum: is not a known field; the fields here are min, max, zScore"},
		{name: "bad metric", input: `{"a b":{"max":1}}`, want: `"a b" is not a metric name`},
		{name: "not JSON", input: `temperature<80`, want: "SWARD_THRESHOLDS is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, err := ParseThresholds(tc.input)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if th.For("other").ZScore != DefaultZScore {
					t.Errorf("unlisted metric z-score = %v, want the default", th.For("other").ZScore)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAlertIDDependsOnContentOnly(t *testing.T) {
	limit := 80.0
	a := Alert{Thing: "pi", Stream: "env", Metric: "t", Kind: AboveMax, Value: 91, Timestamp: MinTimestamp, Count: 2, Limit: &limit}
	b := a
	b.Count = 3 // more readings, same extreme: the same alert
	if a.ID() != b.ID() {
		t.Error("alerts about the same reading have different ids")
	}
	b.Value = 92
	if a.ID() == b.ID() {
		t.Error("alerts about different readings share an id")
	}
	data, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAlert(data)
	if err != nil || got.AlertID != a.ID() || *got.Limit != 80 {
		t.Fatalf("DecodeAlert(%s) = %+v, %v", data, got, err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"formatVersion":1,"records":[{"metric":"t","value":1,"timestamp":1767225600000}]}`))
	f.Add([]byte(`{"formatVersion":1,"records":[null,1,"x",{"metric":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data)
		if err != nil {
			return
		}
		if len(b.Records)+len(b.Rejected) == 0 {
			t.Fatal("a decoded batch has no records at all")
		}
		for _, r := range b.Records {
			if err := ValidateMetric(r.Metric); err != nil {
				t.Fatalf("a kept record is invalid: %v", err)
			}
		}
	})
}

func TestNewBatchIsOneRecordPerMetricThatDecodesUnchanged(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 123_000_000, time.UTC)
	data, err := NewBatch(at, map[string]float64{"vibration": 2.013, "temperature": 45.2}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeBatch(data)
	if err != nil || len(b.Rejected) != 0 {
		t.Fatalf("DecodeBatch(%s) = %+v, %v", data, b, err)
	}
	want := []Record{{"temperature", 45.2, 1767225600123}, {"vibration", 2.013, 1767225600123}}
	if !reflect.DeepEqual(b.Records, want) {
		t.Errorf("records = %+v, want %+v (sorted by metric, epoch ms)", b.Records, want)
	}
	if _, err := NewBatch(at, nil).Encode(); err == nil {
		t.Error("a batch of no metrics encoded; want the records error")
	}
}
