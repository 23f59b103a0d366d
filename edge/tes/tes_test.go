package tes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// provider stands in for the IoT credentials provider: mutual TLS, and
// an answer the test sets.
type provider struct {
	srv   *httptest.Server
	calls atomic.Int32

	mu      sync.Mutex
	status  int
	body    string
	thing   string        // the last x-amzn-iot-thingname
	subject string        // the last client certificate's common name
	gate    chan struct{} // when set, answers wait for it
}

func (p *provider) answer(status int, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.body = status, body
}

func credentialsBody(key string, exp time.Time) string {
	return fmt.Sprintf(`{"credentials":{"accessKeyId":%q,"secretAccessKey":"secret-%s","sessionToken":"token-%s","expiration":%q}}`,
		key, key, key, exp.UTC().Format(time.RFC3339))
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// setup starts a provider and a Service that uses it, with the device
// certificate the provider requires and a clock the test moves.
func setup(t testing.TB) (*Service, *provider, *clock) {
	t.Helper()
	return setupLogged(t, testlog.New(t))
}

// setupLogged is setup with the service's logs going to log and the
// options changed by opts.
func setupLogged(t testing.TB, log *slog.Logger, opts ...func(*Options)) (*Service, *provider, *clock) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, pool := deviceCertificate(t, dir)
	p := &provider{status: http.StatusOK}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		p.mu.Lock()
		gate := p.gate
		p.thing = r.Header.Get("x-amzn-iot-thingname")
		p.subject = r.TLS.PeerCertificates[0].Subject.CommonName
		status, body := p.status, p.body
		p.mu.Unlock()
		if r.URL.Path != "/role-aliases/TestAlias/credentials" {
			status, body = http.StatusNotFound, `{"message":"no such path"}`
		}
		if gate != nil {
			<-gate
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	p.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	caFile := filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", p.srv.Certificate().Raw)

	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := newWith(Options{
		Endpoint: strings.TrimPrefix(p.srv.URL, "https://"), RoleAlias: "TestAlias", ThingName: "test-thing",
		CertificateFile: certFile, PrivateKeyFile: keyFile, RootCAFile: caFile,
		Logger: log, now: c.Now,
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s, p, c
}

func newWith(o Options, opts ...func(*Options)) (*Service, error) {
	for _, f := range opts {
		f(&o)
	}
	return New(o)
}

// deviceCertificate writes a self-signed device certificate and key and
// returns the pool that trusts it.
func deviceCertificate(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "device.pem.crt"), filepath.Join(dir, "private.pem.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile, pool
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// get asks the service as an SDK does: GET with the token verbatim.
func get(t testing.TB, s *Service, token string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("answer %d is not a JSON object of strings: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

func TestCredentialsGoToIssuedTokensInTheContainerShape(t *testing.T) {
	s, p, c := setup(t)
	exp := c.Now().Add(time.Hour)
	p.answer(http.StatusOK, credentialsBody("AKID1", exp))
	env := s.Env("com.example.Uploader")
	if env[EnvCredentialsURI] != s.URI() || !strings.HasPrefix(s.URI(), "http://127.0.0.1:") || !strings.HasSuffix(s.URI(), Path) {
		t.Fatalf("env %v, URI %s: want a loopback URI ending in %s", env, s.URI(), Path)
	}
	token := env[EnvAuthorizationToken]
	if len(token) != 2*tokenBytes {
		t.Fatalf("token %q: want %d random bytes in hex", token, tokenBytes)
	}
	if again := s.Env("com.example.Uploader")[EnvAuthorizationToken]; again != token {
		t.Errorf("a second Env gave another token: a running component would lose its credentials")
	}
	if other := s.Env("com.example.Other")[EnvAuthorizationToken]; other == token {
		t.Errorf("two components share a token")
	}

	status, body := get(t, s, token)
	want := map[string]string{"AccessKeyId": "AKID1", "SecretAccessKey": "secret-AKID1", "Token": "token-AKID1",
		"Expiration": exp.Format(time.RFC3339)}
	if status != http.StatusOK || fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("answer %d %v, want 200 %v", status, body, want)
	}
	if p.thing != "test-thing" || p.subject != "device" {
		t.Errorf("provider saw thing %q and certificate %q, want test-thing and the device certificate", p.thing, p.subject)
	}
}

func TestRequestsWithoutAnIssuedTokenAreRefusedWithoutCredentials(t *testing.T) {
	s, p, c := setup(t)
	p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
	revoked := s.Env("com.example.Gone")[EnvAuthorizationToken]
	retained := s.Env("com.example.Stays")[EnvAuthorizationToken]
	dropped := s.Env("com.example.Dropped")[EnvAuthorizationToken]
	s.Revoke("com.example.Gone")
	s.Retain([]string{"com.example.Stays", "com.example.Gone"})
	for _, tt := range []struct{ name, token, want string }{
		{"no token", "", "no Authorization header"},
		{"unknown token", strings.Repeat("ab", tokenBytes), "did not issue or has revoked"},
		{"revoked token", revoked, "did not issue or has revoked"},
		{"token of a component no longer deployed", dropped, "did not issue or has revoked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, s, tt.token)
			if status != http.StatusForbidden || body["AccessKeyId"] != "" || !strings.Contains(body["message"], tt.want) ||
				!strings.Contains(body["message"], ComponentName) {
				t.Errorf("answer %d %v, want 403 with a message containing %q and %s", status, body, tt.want, ComponentName)
			}
		})
	}
	if p.calls.Load() != 0 {
		t.Errorf("refused requests made %d provider calls", p.calls.Load())
	}
	if status, _ := get(t, s, retained); status != http.StatusOK {
		t.Errorf("a retained component's token answered %d", status)
	}
}

func TestAFloodOfRefusedRequestsIsOneWarning(t *testing.T) {
	var logs testlog.Buffer
	s, _, _ := setupLogged(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	for range 50 {
		if status, _ := get(t, s, "guess"); status != http.StatusForbidden {
			t.Fatalf("a guessed token answered %d", status)
		}
	}
	if n := strings.Count(logs.String(), "credentials refused"); n != 1 {
		t.Errorf("50 refusals wrote %d warnings, want 1:\n%s", n, logs.String())
	}
}

func TestCredentialsAreCachedUntilFiveMinutesBeforeTheyExpire(t *testing.T) {
	s, p, c := setup(t)
	token := s.Env("c")[EnvAuthorizationToken]
	p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
	for range 3 {
		if status, body := get(t, s, token); status != http.StatusOK || body["AccessKeyId"] != "AKID1" {
			t.Fatalf("answer %d %v", status, body)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("three requests made %d provider calls, want 1", n)
	}
	p.answer(http.StatusOK, credentialsBody("AKID2", c.Now().Add(2*time.Hour)))
	c.Add(time.Hour - RefreshBefore - time.Second)
	if _, body := get(t, s, token); body["AccessKeyId"] != "AKID1" {
		t.Errorf("a second before the refresh margin: %v, want the cached AKID1", body)
	}
	c.Add(time.Second)
	if _, body := get(t, s, token); body["AccessKeyId"] != "AKID2" {
		t.Errorf("at five minutes before expiry: %v, want fresh AKID2", body)
	}
	if n := p.calls.Load(); n != 2 {
		t.Errorf("provider calls %d, want 2", n)
	}
}

func TestProviderErrorsArePassedOnAndCachedAsGreengrassDoes(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		ttl        time.Duration
		wantReason string
	}{
		{"client error", http.StatusForbidden, `{"message":"Access Denied"}`, http.StatusForbidden, ClientErrorTTL, "Access Denied"},
		{"server error", http.StatusServiceUnavailable, "try later", http.StatusServiceUnavailable, ServerErrorTTL, "try later"},
		{"other status", http.StatusFound, "", http.StatusBadGateway, OtherErrorTTL, "302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p, c := setup(t)
			token := s.Env("c")[EnvAuthorizationToken]
			p.answer(tt.status, tt.body)
			status, body := get(t, s, token)
			if status != tt.wantStatus || !strings.Contains(body["message"], tt.wantReason) || body["AccessKeyId"] != "" {
				t.Fatalf("answer %d %v, want %d naming %q", status, body, tt.wantStatus, tt.wantReason)
			}
			p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
			c.Add(tt.ttl - time.Second)
			if status, _ := get(t, s, token); status != tt.wantStatus || p.calls.Load() != 1 {
				t.Errorf("within %v: %d after %d provider calls, want the cached %d after 1", tt.ttl, status, p.calls.Load(), tt.wantStatus)
			}
			c.Add(time.Second)
			if status, body := get(t, s, token); status != http.StatusOK || body["AccessKeyId"] != "AKID1" {
				t.Errorf("after %v: %d %v, want fresh credentials", tt.ttl, status, body)
			}
		})
	}
}

func TestAnswersThatAreNotCredentialsAreNotCached(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"not JSON", "<html>", "answered no credentials"},
		{"no session token", `{"credentials":{"accessKeyId":"a","secretAccessKey":"b","expiration":"2030-01-01T00:00:00Z"}}`, "without a key"},
		{"expired", credentialsBody("OLD", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), "check the device clock"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, p, c := setup(t)
			token := s.Env("c")[EnvAuthorizationToken]
			p.answer(http.StatusOK, tt.body)
			if status, body := get(t, s, token); status != http.StatusBadGateway || !strings.Contains(body["message"], tt.want) {
				t.Fatalf("answer %d %v, want 502 naming %q", status, body, tt.want)
			}
			p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
			if status, body := get(t, s, token); status != http.StatusOK || body["AccessKeyId"] != "AKID1" {
				t.Errorf("the next request: %d %v, want fresh credentials (nothing cached)", status, body)
			}
		})
	}
}

func TestAnUnreachableProviderIsA502NamingIt(t *testing.T) {
	s, p, _ := setup(t)
	token := s.Env("c")[EnvAuthorizationToken]
	p.srv.Close()
	if status, body := get(t, s, token); status != http.StatusBadGateway || !strings.Contains(body["message"], s.opts.Endpoint) {
		t.Errorf("answer %d %v, want 502 naming %s", status, body, s.opts.Endpoint)
	}
}

func TestConcurrentRequestsMakeOneProviderCall(t *testing.T) {
	s, p, c := setup(t)
	token := s.Env("c")[EnvAuthorizationToken]
	p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()
	const n = 20
	statuses := make(chan int, n)
	for range n {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, s.URI(), nil)
			req.Header.Set("Authorization", token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	for range n {
		if st := <-statuses; st != http.StatusOK {
			t.Errorf("a request answered %d", st)
		}
	}
	if got := p.calls.Load(); got != 1 {
		t.Errorf("%d concurrent requests made %d provider calls, want 1", n, got)
	}
}

func TestNewNamesWhatIsMissing(t *testing.T) {
	_, err := New(Options{})
	for _, want := range []string{"Endpoint (iotCredEndpoint)", "RoleAlias (iotRoleAlias)", "ThingName", "CertificateFile", "PrivateKeyFile", "RootCAFile"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty options: %v; want it to name %s", err, want)
		}
	}
}

func TestUnreadableDeviceFilesAreA500NamingThemUntilFixed(t *testing.T) {
	s, p, c := setup(t)
	token := s.Env("c")[EnvAuthorizationToken]
	p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
	ca, err := os.ReadFile(s.opts.RootCAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.opts.RootCAFile); err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, s, token); status != http.StatusInternalServerError || !strings.Contains(body["message"], s.opts.RootCAFile) ||
		!strings.Contains(body["message"], "system.rootCaPath") {
		t.Errorf("answer %d %v, want 500 naming %s and system.rootCaPath", status, body, s.opts.RootCAFile)
	}
	if err := os.WriteFile(s.opts.RootCAFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, s, token); status != http.StatusOK || body["AccessKeyId"] != "AKID1" {
		t.Errorf("after the file is back: %d %v, want credentials", status, body)
	}
}

// BenchmarkCachedCredentials is one SDK refresh answered from the cache:
// an HTTP GET on loopback, the token checked, the cached document written.
func BenchmarkCachedCredentials(b *testing.B) {
	s, p, c := setup(b)
	p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
	token := s.Env("c")[EnvAuthorizationToken]
	for b.Loop() {
		if status, _ := get(b, s, token); status != http.StatusOK {
			b.Fatal(status)
		}
	}
	if n := p.calls.Load(); n != 1 {
		b.Fatalf("%d provider calls, want 1", n)
	}
}

func TestTheNucleusOwnClientsGetTheComponentsCredentialsFromTheSameCache(t *testing.T) {
	s, p, c := setup(t)
	exp := c.Now().Add(time.Hour)
	p.answer(http.StatusOK, credentialsBody("AKID1", exp))
	var provider aws.CredentialsProvider = s
	got, err := provider.Retrieve(context.Background())
	if err != nil || got.AccessKeyID != "AKID1" || got.SessionToken != "token-AKID1" || !got.CanExpire || !got.Expires.Equal(exp) {
		t.Fatalf("Retrieve = %+v, %v; want AKID1 expiring at %v", got, err, exp)
	}
	if status, body := get(t, s, s.Env("c")[EnvAuthorizationToken]); status != http.StatusOK || body["AccessKeyId"] != "AKID1" || p.calls.Load() != 1 {
		t.Errorf("a component after the nucleus: %d %v after %d provider calls, want the cached AKID1 after 1", status, body, p.calls.Load())
	}

	p.answer(http.StatusForbidden, `{"message":"Access Denied"}`)
	c.Add(time.Hour)
	if _, err := provider.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Access Denied") {
		t.Errorf("Retrieve after a refusal: %v, want the provider's 403 and reason", err)
	}
}

func TestTheProviderIsReachedThroughTheConfiguredProxy(t *testing.T) {
	var connects atomic.Int32
	var target atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		target.Store(r.Host)
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		down, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer down.Close()
		_, _ = down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { _, _ = io.Copy(up, buf) }()
		_, _ = io.Copy(down, up)
	}))
	t.Cleanup(proxy.Close)
	proxyURL, _ := url.Parse(proxy.URL)
	s, p, c := setupLogged(t, testlog.New(t), func(o *Options) { o.Proxy = http.ProxyURL(proxyURL) })
	p.answer(http.StatusOK, credentialsBody("AKID1", c.Now().Add(time.Hour)))
	if status, body := get(t, s, s.Env("c")[EnvAuthorizationToken]); status != http.StatusOK || body["AccessKeyId"] != "AKID1" {
		t.Fatalf("answer %d %v", status, body)
	}
	if connects.Load() != 1 || target.Load() != s.opts.Endpoint {
		t.Errorf("proxy saw %d CONNECTs to %v, want 1 to %s", connects.Load(), target.Load(), s.opts.Endpoint)
	}
}

func TestCredentialsThatHaveAlreadyExpiredAreA502NamingTheClockAndNotCached(t *testing.T) {
	s, p, c := setup(t)
	token := s.Env("c")[EnvAuthorizationToken]
	p.answer(http.StatusOK, credentialsBody("AKID-OLD", c.Now().Add(-time.Minute)))
	status, body := get(t, s, token)
	if status != http.StatusBadGateway || !strings.Contains(body["message"], "expired") || !strings.Contains(body["message"], "clock") {
		t.Fatalf("expired credentials: %d %v, want 502 saying they expired and to check the device clock", status, body)
	}
	if body["AccessKeyId"] != "" {
		t.Fatalf("expired credentials were handed out: %v", body)
	}
	p.answer(http.StatusOK, credentialsBody("AKID-NEW", c.Now().Add(time.Hour)))
	if status, body := get(t, s, token); status != http.StatusOK || body["AccessKeyId"] != "AKID-NEW" {
		t.Errorf("after the provider answers valid credentials: %d %v, want AKID-NEW (the expired answer was not cached)", status, body)
	}
}
