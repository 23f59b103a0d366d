package devcloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// dynamoGate passes DynamoDB requests to moto one at a time.
//
// moto's DynamoDB is not safe under concurrent requests: TransactWriteItems
// copies every table it touches when it starts and, when one of its
// conditions fails, puts those copies back, undoing whatever other requests
// wrote to the tables meanwhile (moto 5, transact_write_items). DynamoDB
// isolates a transaction from other writes. The deployment-events Lambda
// runs concurrent invocations for one device whose transactions are meant
// to fail their conditions and retry; through moto directly the release's
// device counts came out wrong (a count of -1). One request at a time gives
// back DynamoDB's isolation; moto serves one request at a time anyway (it
// is Python), so little is lost.
type dynamoGate struct {
	mu    sync.Mutex
	proxy *httputil.ReverseProxy
}

func (g *dynamoGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.proxy.ServeHTTP(w, r) // returns once moto's answer is copied to w
}

// startDynamoDB starts devcloud's DynamoDB endpoint (endpoints.dynamodb),
// the gate in front of moto's DynamoDB that the Lambdas and the rules'
// DynamoDB actions use.
func (s *Server) startDynamoDB(motoURL string) error {
	target, err := url.Parse(motoURL)
	if err != nil {
		return fmt.Errorf("moto endpoint %q: %w", motoURL, err)
	}
	ln, err := net.Listen("tcp", s.opts.DynamoDBListen)
	if err != nil {
		return fmt.Errorf("dynamodb endpoint listen %s: %w", s.opts.DynamoDBListen, err)
	}
	gate := &dynamoGate{proxy: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}}
	s.dynamoHTTP = &http.Server{Handler: gate, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.dynamoHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("dynamodb endpoint", "error", err)
		}
	}()
	s.info.Endpoints.DynamoDB = "http://" + ln.Addr().String()
	return nil
}

func (s *Server) shutdownDynamoDB() {
	if s.dynamoHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.dynamoHTTP.Shutdown(ctx)
		cancel()
	}
}
