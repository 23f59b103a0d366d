package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Item is a DynamoDB item in the wire form: attribute name → {"S": "…"}
// or {"N": "…"}.
type Item map[string]map[string]any

// Table reads one item of a DynamoDB table by its string partition key.
type Table interface {
	GetItem(ctx context.Context, table, keyName, keyValue string) (Item, error)
}

// DynamoDB is a Table over DynamoDB's JSON API, signed with SigV4. Not the
// SDK's dynamodb client: its schemas package allocates 570 KB at every
// start of the sward binary, the nucleus's included (test/init_test.go),
// for the one GetItem the CLI makes.
type DynamoDB struct {
	cfg      aws.Config
	endpoint string
	client   *http.Client
}

// dynamoTimeout bounds one GetItem: DynamoDB answers in milliseconds; a
// minute covers a slow link without hanging the CLI forever.
const dynamoTimeout = time.Minute

// NewDynamoDB returns a Table for cfg's region and credentials. The
// endpoint is, in order: AWS_ENDPOINT_URL_DYNAMODB, cfg.BaseEndpoint
// (--endpoint-url, AWS_ENDPOINT_URL), the region's public endpoint.
func NewDynamoDB(cfg aws.Config) *DynamoDB {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if endpoint == "" {
		endpoint = aws.ToString(cfg.BaseEndpoint)
	}
	if endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		endpoint = "https://dynamodb." + cfg.Region + "." + suffix
	}
	return &DynamoDB{cfg: cfg, endpoint: strings.TrimRight(endpoint, "/"), client: &http.Client{Timeout: dynamoTimeout}}
}

// GetItem reads an item with a consistent read; nil when there is none.
func (d *DynamoDB) GetItem(ctx context.Context, table, keyName, keyValue string) (Item, error) {
	body, err := json.Marshal(map[string]any{
		"TableName":      table,
		"Key":            Item{keyName: {"S": keyValue}},
		"ConsistentRead": true,
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("DynamoDB endpoint %s: %w", d.endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	if d.cfg.Credentials == nil {
		return nil, fmt.Errorf("no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	creds, err := d.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "dynamodb", d.cfg.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // an item is at most 400 KB
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		_ = json.Unmarshal(data, &e)
		kind := e.Type[strings.LastIndexByte(e.Type, '#')+1:]
		if kind == "" {
			kind = resp.Status
		}
		return nil, fmt.Errorf("DynamoDB GetItem on %s: %s: %s", table, kind, e.Message+e.Message2)
	}
	var out struct{ Item Item }
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("DynamoDB GetItem on %s: %w", table, err)
	}
	return out.Item, nil
}

// S returns a string attribute, "" when missing.
func (it Item) S(name string) string {
	s, _ := it[name]["S"].(string)
	return s
}

// N returns a number attribute's text, "" when missing.
func (it Item) N(name string) string {
	n, _ := it[name]["N"].(string)
	return n
}
