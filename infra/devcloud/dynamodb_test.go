package devcloud

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sward-iot/sward/internal/testutil"
)

// concurrentCounts runs, through endpoint, writers that each add 1 to a
// counter item a number of times, beside transactions that fail their
// condition (as the deployment-events Lambda's do when two messages of a
// device race), and returns the counter and how many additions were
// acknowledged.
func concurrentCounts(t *testing.T, cfg aws.Config, endpoint, table string) (got, want int) {
	t.Helper()
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	ctx := context.Background()
	key := func(k string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}}
	}
	const writers, adds, failing = 3, 15, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, writers*adds+failing*adds)
	for range writers {
		wg.Go(func() {
			for range adds {
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("counter"),
					UpdateExpression:          aws.String("ADD n :one"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}})
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				want++
				mu.Unlock()
			}
		})
	}
	for i := range failing {
		wg.Go(func() {
			for j := range adds {
				_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String(table), Item: key("history-" + strconv.Itoa(i) + "-" + strconv.Itoa(j))}},
					{ConditionCheck: &types.ConditionCheck{TableName: aws.String(table), Key: key("counter"), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
				}})
				var canceled *types.TransactionCanceledException
				if !errors.As(err, &canceled) {
					errs <- fmt.Errorf("the transaction: %v, want it canceled by its condition", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("counter"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := out.Item["n"].(*types.AttributeValueMemberN)
	if n == nil {
		return 0, want
	}
	got, _ = strconv.Atoi(n.Value)
	return got, want
}

func TestTheDynamoDBEndpointKeepsEveryWriteBesideFailingTransactions(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Stop()
	cfg := moto.Config()
	const table = "counts"
	// The counter item exists before the race, so every transaction's
	// condition fails.
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "counter"}, "n": &types.AttributeValueMemberN{Value: "0"}}}); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(moto.URL)
	gate := httptest.NewServer(&dynamoGate{proxy: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}})
	defer gate.Close()
	if got, want := concurrentCounts(t, cfg, gate.URL, table); got != want {
		t.Errorf("the counter is %d after %d acknowledged additions through the gate", got, want)
	}
}
