package cloud

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/lambdas/lambdakit"
)

var moto *testutil.Moto

func TestMain(m *testing.M) {
	// The SDK reads these; moto accepts any credentials.
	os.Setenv("AWS_ACCESS_KEY_ID", testutil.MotoCredentials)
	os.Setenv("AWS_SECRET_ACCESS_KEY", testutil.MotoCredentials)
	os.Setenv("AWS_REGION", testutil.MotoRegion)
	var err error
	// A missing moto_server fails the package like any other error: `make
	// test` installs it (make tools), and a test never passes by skipping.
	moto, err = testutil.StartMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/cloud:", err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

// clients are SDK clients for moto.
type clients struct {
	s3  *s3.Client
	db  *dynamodb.Client
	iot *iot.Client
	pub *iotdataplane.Client
}

func newClients() clients {
	cfg := moto.Config()
	return clients{
		s3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		db:  dynamodb.NewFromConfig(cfg),
		iot: iot.NewFromConfig(cfg),
		pub: iotdataplane.NewFromConfig(cfg),
	}
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

// name derives a resource name unique to the test: buckets, tables,
// groups and things of different tests never meet in the shared moto. It
// is readable (from the test name) and short enough for a bucket (63).
func name(t *testing.T, kind string) string {
	sum := sha1.Sum([]byte(t.Name()))
	n := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 40 {
		n = strings.TrimRight(n[:40], "-")
	}
	return kind + "-" + n + "-" + hex.EncodeToString(sum[:4])
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func createBucket(t *testing.T, c clients, bucket string) {
	t.Helper()
	if _, err := c.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// createTable makes a PAY_PER_REQUEST table with string keys, as the CDK
// app does (lambdas/README.md).
func createTable(t *testing.T, c clients, table, pk, sk string) {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String(pk), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: dbtypes.KeyTypeHash}},
	}
	if sk != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, dbtypes.AttributeDefinition{AttributeName: aws.String(sk), AttributeType: dbtypes.ScalarAttributeTypeS})
		in.KeySchema = append(in.KeySchema, dbtypes.KeySchemaElement{AttributeName: aws.String(sk), KeyType: dbtypes.KeyTypeRange})
	}
	if _, err := c.db.CreateTable(ctx(t), in); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
}

func getItem(t *testing.T, c clients, table string, key map[string]dbtypes.AttributeValue) map[string]dbtypes.AttributeValue {
	t.Helper()
	out, err := c.db.GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get item from %s: %v", table, err)
	}
	return out.Item
}

func s(item map[string]dbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*dbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func n(item map[string]dbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*dbtypes.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

func sKey(name, value string) map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{name: &dbtypes.AttributeValueMemberS{Value: value}}
}

// logBuffer keeps a handler's JSON log for the test to print on failure.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLog returns a handler logger like the Lambdas' whose output is shown
// when the test fails.
func newLog(t *testing.T, service string) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", service, b.String())
		}
	})
	return lambdakit.NewLogger(b, service), b
}
