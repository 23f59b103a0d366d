package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/jsii-runtime-go"
)

// Names of the Glue database and table over the telemetry archive and of
// the Athena workgroup to query it in: fixed per account and region, like
// the stack, so that a query can name them.
const (
	glueDatabaseName    = "sward"
	glueTelemetryTable  = "telemetry"
	athenaWorkGroupName = "sward"
)

// athenaResultsPrefix is where the workgroup writes query results, in the
// telemetry bucket, outside every thing=… partition; they expire after
// athenaResultsExpireAfter days (a result is read once, right away).
const (
	athenaResultsPrefix      = "athena-results/"
	athenaResultsExpireAfter = 30
)

// athenaBytesScannedCutoff stops a query after 10 GiB scanned (about five
// cents): a fleet-month of readings with a thing and date filter is far less,
// a forgotten WHERE on a large archive is not.
const athenaBytesScannedCutoff = 10 << 30

// telemetryTable is the Glue table and the Athena workgroup.
type telemetryTable struct {
	database  awsglue.CfnDatabase
	table     awsglue.CfnTable
	workGroup awsathena.CfnWorkGroup
}

// newTelemetryTable adds a Glue table over the telemetry Lambda's archive,
// thing=<thing>/date=YYYY-MM-DD/hour=HH/<stream>-<digest>.json, one JSON row
// per reading (lambdas/telemetry/archive.go), with partition projection, so
// that a query works from the first archived message on, without crawlers
// or MSCK REPAIR: thing is injected (a query names its things, WHERE thing =
// 'pi-1' or thing IN (…)), date a date projection from 2000 (the earliest
// reading the archive accepts) to tomorrow (a device clock slightly ahead),
// hour 00 to 23. The row's thing, and date and hour, are the partition
// values, not columns. And an Athena workgroup whose results go to the
// telemetry bucket, encrypted.
func newTelemetryTable(stack awscdk.Stack, st *storage) *telemetryTable {
	bucket := st.telemetry.BucketName()
	location := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("s3://"), bucket, jsii.String("/")})
	t := &telemetryTable{}
	t.database = awsglue.NewCfnDatabase(stack, jsii.String("GlueDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(glueDatabaseName),
			Description: jsii.String("Sward: the telemetry archive"),
		},
	})
	column := func(name, typ, comment string) *awsglue.CfnTable_ColumnProperty {
		return &awsglue.CfnTable_ColumnProperty{Name: jsii.String(name), Type: jsii.String(typ), Comment: jsii.String(comment)}
	}
	t.table = awsglue.NewCfnTable(stack, jsii.String("TelemetryTable"), &awsglue.CfnTableProps{
		CatalogId:    stack.Account(),
		DatabaseName: jsii.String(glueDatabaseName),
		TableInput: &awsglue.CfnTable_TableInputProperty{
			Name:        jsii.String(glueTelemetryTable),
			Description: jsii.String("Device readings archived by the telemetry Lambda, one row per reading"),
			TableType:   jsii.String("EXTERNAL_TABLE"),
			PartitionKeys: &[]any{
				column("thing", "string", "the device (injected: name it in the WHERE clause)"),
				column("date", "string", "the reading's UTC day, YYYY-MM-DD"),
				column("hour", "string", "the reading's UTC hour, 00-23"),
			},
			Parameters: &map[string]any{
				"EXTERNAL":                      "TRUE",
				"classification":                "json",
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
				"storage.location.template": awscdk.Fn_Join(jsii.String(""), &[]*string{
					jsii.String("s3://"), bucket, jsii.String("/thing=${thing}/date=${date}/hour=${hour}/"),
				}),
			},
			StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
				Location:     location,
				InputFormat:  jsii.String("org.apache.hadoop.mapred.TextInputFormat"),
				OutputFormat: jsii.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
				SerdeInfo: &awsglue.CfnTable_SerdeInfoProperty{
					SerializationLibrary: jsii.String("org.openx.data.jsonserde.JsonSerDe"),
				},
				Columns: &[]any{
					column("stream", "string", "topic(4): the device's telemetry stream"),
					column("metric", "string", "the metric name"),
					column("value", "double", "the reading"),
					column("timestamp", "bigint", "when the reading was taken, epoch ms (device clock)"),
					column("receivedat", "bigint", "when IoT Core received the message, epoch ms"),
					column("messageid", "string", "the batch's messageId, when the device sent one"),
				},
			},
		},
	})
	t.table.AddDependency(t.database)

	t.workGroup = awsathena.NewCfnWorkGroup(stack, jsii.String("AthenaWorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:        jsii.String(athenaWorkGroupName),
		Description: jsii.String("Sward: queries over the telemetry archive"),
		// Deleting the stack deletes the workgroup with its saved queries.
		RecursiveDeleteOption: jsii.Bool(true),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			BytesScannedCutoffPerQuery:      jsii.Number(athenaBytesScannedCutoff),
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation: awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("s3://"), bucket, jsii.String("/" + athenaResultsPrefix)}),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{
					EncryptionOption: jsii.String("SSE_S3"),
				},
			},
		},
	})
	return t
}
