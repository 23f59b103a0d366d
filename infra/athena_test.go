package main

import (
	"testing"
)

// The archive key the telemetry Lambda writes (lambdas/telemetry/archive.go)
// and the partition the table's projection reads it from must agree.
func TestTelemetryTableProjectsTheArchiveKeyLayout(t *testing.T) {
	table := resource(t, "TelemetryTable")["Properties"].(map[string]any)
	if got := render(table["DatabaseName"]); got != "sward" {
		t.Errorf("database %s, want sward", got)
	}
	in := table["TableInput"].(map[string]any)
	params := in["Parameters"].(map[string]any)
	for key, want := range map[string]string{
		"projection.enabled":            "true",
		"projection.thing.type":         "injected",
		"projection.date.type":          "date",
		"projection.date.format":        "yyyy-MM-dd",
		"projection.date.range":         "2000-01-01,NOW+1DAYS",
		"projection.date.interval":      "1",
		"projection.date.interval.unit": "DAYS",
		"projection.hour.type":          "integer",
		"projection.hour.range":         "0,23",
		"projection.hour.digits":        "2",
		"storage.location.template":     "s3://{TelemetryBucket}/thing=${thing}/date=${date}/hour=${hour}/",
	} {
		if got := render(params[key]); got != want {
			t.Errorf("table parameter %s = %s, want %s", key, got, want)
		}
	}
	if got, want := render(in["PartitionKeys"]), "[map[Comment:the device (injected: name it in the WHERE clause) Name:thing Type:string] map[Comment:the reading's UTC day, YYYY-MM-DD Name:date Type:string] map[Comment:the reading's UTC hour, 00-23 Name:hour Type:string]]"; got != want {
		t.Errorf("partition keys = %s, want %s", got, want)
	}
	sd := in["StorageDescriptor"].(map[string]any)
	if got := render(sd["SerdeInfo"]); got != "map[SerializationLibrary:org.openx.data.jsonserde.JsonSerDe]" {
		t.Errorf("serde = %s", got)
	}
	// The archive row's fields other than the partition values
	// (appendLine), lower-cased as the JSON SerDe matches them.
	var columns []string
	for _, c := range sd["Columns"].([]any) {
		col := c.(map[string]any)
		columns = append(columns, col["Name"].(string)+":"+col["Type"].(string))
	}
	if got, want := render(columns), "[stream:string metric:string value:double timestamp:bigint receivedat:bigint messageid:string]"; got != want {
		t.Errorf("columns = %s, want %s", got, want)
	}
}

func TestAthenaWorkGroupWritesEncryptedResultsOutsideTheArchiveAndCapsScans(t *testing.T) {
	wg := resource(t, "AthenaWorkGroup")["Properties"].(map[string]any)
	if got, want := render(wg["WorkGroupConfiguration"]), "map[BytesScannedCutoffPerQuery:1.073741824e+10 EnforceWorkGroupConfiguration:true PublishCloudWatchMetricsEnabled:true ResultConfiguration:map[EncryptionConfiguration:map[EncryptionOption:SSE_S3] OutputLocation:s3://{TelemetryBucket}/athena-results/]]"; got != want {
		t.Errorf("workgroup configuration = %s, want %s", got, want)
	}
	rules := render(resource(t, "TelemetryBucket")["Properties"].(map[string]any)["LifecycleConfiguration"])
	if !contains(rules, "map[ExpirationInDays:30 Id:athena-results-expire Prefix:athena-results/ Status:Enabled]") {
		t.Errorf("telemetry bucket lifecycle %s does not expire the query results", rules)
	}
}
