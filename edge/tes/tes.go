package tes

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// ComponentName is the component a recipe depends on to get credentials.
const ComponentName = "aws.greengrass.TokenExchangeService"

// Path is where credentials are served, Greengrass's path (ECS's API
// version) so that a component written for Greengrass sees the same URI.
const Path = "/2016-11-01/credentialprovider/"

// The environment variables every AWS SDK's container credentials
// provider reads.
const (
	EnvCredentialsURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvAuthorizationToken = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
)

// tokenBytes is the size of a component's random token: 32 bytes (256
// bits) cannot be guessed by another local process.
const tokenBytes = 32

// DefaultTimeout bounds one request to the credentials provider. The SDKs
// give up on the local endpoint after a few seconds and retry; the fetch
// goes on without them and fills the cache for their retry.
const DefaultTimeout = 15 * time.Second

// Options configures a Service. Every field but Port, Timeout and Logger
// is required.
type Options struct {
	// Port is the loopback port to serve on (127.0.0.1 only); 0 picks a
	// free one.
	Port int
	// Endpoint is the iot:CredentialProvider host, with ":port" when it
	// is not 443.
	Endpoint string
	// RoleAlias is the role alias whose role's credentials are served.
	RoleAlias string
	// ThingName is sent as x-amzn-iot-thingname: the provider checks that
	// the certificate is attached to it.
	ThingName string
	// CertificateFile and PrivateKeyFile are the device's PEM certificate
	// and key; RootCAFile the CA the endpoint's certificate chains to.
	CertificateFile, PrivateKeyFile, RootCAFile string
	// Proxy, when set, picks the proxy for the provider's requests
	// (devconfig.NetworkProxy.HTTPProxy); nil: direct.
	Proxy func(*http.Request) (*url.URL, error)
	// Timeout bounds one request to the provider (default DefaultTimeout).
	Timeout time.Duration
	// Logger receives the service's logs (default slog.Default()).
	Logger *slog.Logger

	now func() time.Time // the clock, for tests
}

// Service is the token exchange service. Its handler runs in the HTTP
// server's goroutines, which Shutdown waits for.
type Service struct {
	opts Options
	log  *slog.Logger
	url  string // the provider's credentials URL

	mu     sync.Mutex
	tokens map[string]string // token → component
	issued map[string]string // component → token
	uri    string            // EnvCredentialsURI's value, set by Start

	cache cache

	refusedMu     sync.Mutex
	refused       int       // refusals since the last warning
	refusalLogged time.Time // when the last warning was written

	srv  *http.Server
	done chan struct{}
}

// New validates opts. It reads no file, opens no port and starts nothing:
// the certificate, key and CA are read for each request to the provider,
// so a device whose files are missing or renewed keeps its nucleus running
// and gets credentials once they are right.
func New(opts Options) (*Service, error) {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"Endpoint (iotCredEndpoint)", opts.Endpoint}, {"RoleAlias (iotRoleAlias)", opts.RoleAlias},
		{"ThingName", opts.ThingName}, {"CertificateFile", opts.CertificateFile},
		{"PrivateKeyFile", opts.PrivateKeyFile}, {"RootCAFile", opts.RootCAFile},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("token exchange service: Options.%s is empty: the device configuration must name it", f.name))
		}
	}
	if opts.Port < 0 || opts.Port > 65535 {
		errs = append(errs, fmt.Errorf("token exchange service: port %d is not a port: use 0 for a free one", opts.Port))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	return &Service{
		opts:   opts,
		log:    opts.Logger.With("service", "token exchange"),
		url:    "https://" + opts.Endpoint + "/role-aliases/" + url.PathEscape(opts.RoleAlias) + "/credentials",
		tokens: map[string]string{},
		issued: map[string]string{},
		cache:  cache{sem: make(chan struct{}, 1)},
		done:   make(chan struct{}),
	}, nil
}

// Start listens on 127.0.0.1 and serves in the background.
func (s *Service) Start(context.Context) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.opts.Port)))
	if err != nil {
		return fmt.Errorf("token exchange service: listen on 127.0.0.1:%d: %w (choose another port, or 0 for a free one)", s.opts.Port, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(Path, s.serveCredentials)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "credentials are served at "+Path)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.uri = "http://" + ln.Addr().String() + Path
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("token exchange endpoint stopped", "error", err)
		}
	}()
	s.log.Info("token exchange service started", "uri", s.URI(), "provider", s.opts.Endpoint, "roleAlias", s.opts.RoleAlias)
	if _, err := s.tlsConfig(); err != nil {
		s.log.Error("credentials requests will fail until the device files are fixed", "error", err)
	}
	return nil
}

// tlsConfig reads the device certificate, key and root CA.
func (s *Service) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.opts.CertificateFile, s.opts.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("device certificate %s and key %s: %w: fix system.certificateFilePath and system.privateKeyPath (sward provision writes them)",
			s.opts.CertificateFile, s.opts.PrivateKeyFile, err)
	}
	pem, err := os.ReadFile(s.opts.RootCAFile)
	if err != nil {
		return nil, fmt.Errorf("root CA: %w: fix system.rootCaPath", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("root CA %s holds no PEM certificate: give the CA the credentials endpoint's certificate chains to (system.rootCaPath)", s.opts.RootCAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// Shutdown stops serving and waits for the requests in progress.
func (s *Service) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	select {
	case <-s.done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// URI is EnvCredentialsURI's value; empty before Start.
func (s *Service) URI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uri
}

// Env returns the two variables that give component credentials, issuing
// its token on the first call; later calls return the same token, so a
// component that keeps running through a deployment keeps a valid one.
// Call it after Start.
func (s *Service) Env(component string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.issued[component]
	if !ok {
		b := make([]byte, tokenBytes)
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		tok = hex.EncodeToString(b)
		s.issued[component] = tok
		s.tokens[tok] = component
	}
	return map[string]string{EnvCredentialsURI: s.uri, EnvAuthorizationToken: tok}
}

// Revoke makes component's token invalid at once (the component no longer
// depends on the service, or is removed).
func (s *Service) Revoke(component string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.issued[component]; ok {
		delete(s.tokens, tok)
		delete(s.issued, component)
	}
}

// Retain revokes the tokens of every component not in components (the
// set the device runs now).
func (s *Service) Retain(components []string) {
	keep := make(map[string]bool, len(components))
	for _, c := range components {
		keep[c] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, tok := range s.issued {
		if !keep[c] {
			delete(s.tokens, tok)
			delete(s.issued, c)
		}
	}
}

// component is the component token was issued to.
func (s *Service) component(token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.tokens[token]
	return c, ok
}
