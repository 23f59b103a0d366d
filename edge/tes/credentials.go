package tes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/sward-iot/sward/shared/credentials"
)

// Greengrass's cache times (its CredentialRequestHandler), so a device
// moved from Greengrass asks the provider as often as before.
const (
	// RefreshBefore: credentials are served from the cache until this
	// long before they expire; the SDKs refresh five minutes before too,
	// so they always get credentials with time left.
	RefreshBefore = 5 * time.Minute
	// ClientErrorTTL caches a 4xx from the provider (a wrong role alias or
	// an inactive certificate needs someone to act; asking again sooner
	// only adds load).
	ClientErrorTTL = 2 * time.Minute
	// ServerErrorTTL caches a 5xx: the provider may recover soon.
	ServerErrorTTL = time.Minute
	// OtherErrorTTL caches any other status the provider answers.
	OtherErrorTTL = 5 * time.Minute
)

// maxResponseBytes bounds what is read of the provider's answer: its
// credentials are about 1.5 KB.
const maxResponseBytes = 64 << 10

// answer is what the endpoint says to every caller until until: the
// credentials, or the provider's error.
type answer struct {
	status int
	body   []byte
	until  time.Time
}

// cache holds the last answer; sem lets one upstream request run at a
// time, and callers that waited for it find its answer cached.
type cache struct {
	sem  chan struct{}
	last answer // guarded by sem
}

// credentials answers with the cached answer, or fetches one (one request
// at a time; the others wait for it, or for their own context).
func (s *Service) credentials(ctx context.Context) (answer, error) {
	select {
	case s.cache.sem <- struct{}{}:
	case <-ctx.Done():
		return answer{}, ctx.Err()
	}
	defer func() { <-s.cache.sem }()
	if s.opts.now().Before(s.cache.last.until) {
		return s.cache.last, nil
	}
	// The fetch outlives a caller that gives up: its answer is cached
	// for the caller's retry.
	a := s.fetch(context.WithoutCancel(ctx))
	s.cache.last = a
	return a, nil
}

// fetch asks the provider once. A connection failure or an answer that
// is not credentials is not cached (the next request asks again); an
// error status is cached for its TTL; credentials until RefreshBefore
// their expiration.
func (s *Service) fetch(ctx context.Context) answer {
	now := s.opts.now()
	uncached := func(status int, code, format string, args ...any) answer {
		msg := fmt.Sprintf(format, args...)
		s.log.Warn("no credentials from the provider", "url", s.url, "error", msg)
		return answer{status: status, body: errorBody(code, msg), until: now}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return uncached(http.StatusInternalServerError, "InternalError", "credentials provider URL %s: %v: fix iotCredEndpoint or iotRoleAlias", s.url, err)
	}
	req.Header.Set("x-amzn-iot-thingname", s.opts.ThingName)
	cfg, err := s.tlsConfig()
	if err != nil {
		return uncached(http.StatusInternalServerError, "DeviceConfigurationError", "%v", err)
	}
	// One transport per fetch: a fetch is due about once an hour, and the
	// files it read are the ones it uses.
	tr := &http.Transport{TLSClientConfig: cfg, TLSHandshakeTimeout: s.opts.Timeout, Proxy: s.opts.Proxy}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: s.opts.Timeout}).Do(req)
	if err != nil {
		return uncached(http.StatusBadGateway, "CredentialsProviderUnreachable", "credentials provider %s: %v", s.opts.Endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return uncached(http.StatusBadGateway, "CredentialsProviderUnreachable", "credentials provider %s: reading the answer: %v", s.opts.Endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		status, ttl := resp.StatusCode, OtherErrorTTL
		switch {
		case status >= 400 && status < 500:
			ttl = ClientErrorTTL
		case status >= 500 && status < 600:
			ttl = ServerErrorTTL
		default:
			status = http.StatusBadGateway // an SDK cannot follow a provider's redirect
		}
		reason := providerReason(data)
		s.log.Error("credentials provider refused; answer cached", "url", s.url, "status", resp.StatusCode,
			"reason", reason, "for", ttl.String())
		return answer{status: status, until: now.Add(ttl), body: errorBody("CredentialsProviderError",
			fmt.Sprintf("credentials provider %s answered %d: %s (cached for %v)", s.opts.Endpoint, resp.StatusCode, reason, ttl))}
	}
	var pc credentials.Provider
	if err := json.Unmarshal(data, &pc); err != nil {
		return uncached(http.StatusBadGateway, "CredentialsProviderError", "credentials provider %s answered no credentials: %v", s.opts.Endpoint, err)
	}
	c := pc.Credentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return uncached(http.StatusBadGateway, "CredentialsProviderError", "credentials provider %s answered credentials without a key, secret or session token", s.opts.Endpoint)
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil {
		return uncached(http.StatusBadGateway, "CredentialsProviderError", "credentials provider %s answered expiration %q, not an RFC 3339 time", s.opts.Endpoint, c.Expiration)
	}
	if !exp.After(now) {
		return uncached(http.StatusBadGateway, "CredentialsProviderError", "credentials provider %s answered credentials that expired at %s: check the device clock", s.opts.Endpoint, c.Expiration)
	}
	body, _ := json.Marshal(credentials.Container{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		Token: c.SessionToken, Expiration: exp.UTC().Format(time.RFC3339)})
	until := exp.Add(-RefreshBefore)
	if until.Before(now) {
		// Shorter-lived than the refresh margin: serve, ask again next time.
		s.log.Warn("credentials expire within the refresh margin: not cached", "expiration", c.Expiration)
		until = now
	} else {
		s.log.Info("credentials from the provider cached", "expiration", c.Expiration, "until", until)
	}
	return answer{status: http.StatusOK, body: body, until: until}
}

// providerReason is the message of the provider's error answer
// ({"message": …}), else its text.
func providerReason(data []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil && e.Message != "" {
		return e.Message
	}
	if t := strings.TrimSpace(string(data)); t != "" {
		return t
	}
	return "no reason given"
}

// serveCredentials answers GET Path with the credentials, for the token a
// component was issued only.
func (s *Service) serveCredentials(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		writeError(w, http.StatusNotFound, "NotFound", "credentials are served at "+Path)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
		return
	}
	token := r.Header.Get("Authorization")
	component, ok := s.component(token)
	if token == "" || !ok {
		what := "no Authorization header"
		if token != "" {
			what = "an Authorization token this device did not issue or has revoked"
		}
		s.refusal(what, r.RemoteAddr)
		writeError(w, http.StatusForbidden, "AccessDeniedException",
			"request with "+what+": only components that depend on "+ComponentName+
				" get credentials, with the token in their "+EnvAuthorizationToken)
		return
	}
	a, err := s.credentials(r.Context())
	if err != nil {
		return // the caller went away
	}
	if a.status != http.StatusOK {
		s.log.Debug("credentials error answered", "component", component, "status", a.status)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// refusalLogEvery spaces the warnings about refused requests: a local
// process guessing tokens in a loop costs one log line per 10 s (with the
// count), not one per request.
const refusalLogEvery = 10 * time.Second

// refusal counts a refused request and warns at most every refusalLogEvery.
func (s *Service) refusal(reason, remote string) {
	s.refusedMu.Lock()
	s.refused++
	now := time.Now()
	if !s.refusalLogged.IsZero() && now.Sub(s.refusalLogged) < refusalLogEvery {
		s.refusedMu.Unlock()
		return
	}
	n := s.refused
	s.refused, s.refusalLogged = 0, now
	s.refusedMu.Unlock()
	s.log.Warn("credentials refused: only components that depend on "+ComponentName+" get them",
		"reason", reason, "remote", remote, "refused", n)
}

// errorBody is the error shape the SDKs read: {"code", "message"}.
func errorBody(code, message string) []byte {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
	return b
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(code, message))
}

// Retrieve gives the nucleus's own AWS clients (the stream exporters) the
// credentials components get, from the same cache: Service is an
// aws.CredentialsProvider (wrap it in aws.NewCredentialsCache).
func (s *Service) Retrieve(ctx context.Context) (aws.Credentials, error) {
	a, err := s.credentials(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	if a.status != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(a.body, &e)
		return aws.Credentials{}, fmt.Errorf("token exchange service: %d: %s", a.status, e.Message)
	}
	var c credentials.Container
	if err := json.Unmarshal(a.body, &c); err != nil {
		return aws.Credentials{}, fmt.Errorf("token exchange service: cached credentials: %w", err)
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("token exchange service: cached expiration %q: %w", c.Expiration, err)
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.Token,
		Source: "SwardTokenExchangeService", CanExpire: true, Expires: exp}, nil
}
