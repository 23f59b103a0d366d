// Package credentials is devcloud's IoT credentials provider:
// `GET /role-aliases/<alias>/credentials` over mutual TLS, as a device's
// token exchange service calls it. The client certificate must be
// registered to a thing and ACTIVE, an `x-amzn-iot-thingname` header, when
// sent, must name the certificate's thing, and its policies must allow
// iot:AssumeRoleWithCertificate on the role alias's ARN; anything else is
// 403. An alias the policies allow but that does not exist is 404, as AWS
// answers, with AWS's messages ("Invalid thing name passed", "Access
// Denied", "Role alias does not exist"). The credentials come from moto's
// STS (AssumeRole of the alias's role for the alias's duration), so moto
// accepts them.
package credentials

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sward-iot/sward/infra/devcloud/policy"
	wire "github.com/sward-iot/sward/shared/credentials"
)

// ThingNameHeader optionally names the thing of the calling certificate.
const ThingNameHeader = "x-amzn-iot-thingname"

// RoleAlias is a role alias the provider serves.
type RoleAlias struct {
	Name     string
	Arn      string
	RoleArn  string
	Duration time.Duration
}

// Options configure a Server.
type Options struct {
	// Listen is the loopback address (127.0.0.1:0 for a free port).
	Listen      string
	Certificate tls.Certificate
	ClientCAs   *x509.CertPool
	// Identify maps a verified client certificate to its identity; ok is
	// false for one not registered or not ACTIVE.
	Identify    func(*x509.Certificate) (policy.Identity, bool)
	RoleAliases []RoleAlias
	// Region and AccountID make the ARN of a requested alias that is not
	// in RoleAliases, which the policies are asked about first.
	Region, AccountID string
	// STS assumes the roles (moto's).
	STS    *sts.Client
	Logger *slog.Logger
}

// Server is the credentials provider.
type Server struct {
	opts Options
	log  *slog.Logger
	http *http.Server
	ln   net.Listener
}

// New builds a Server; Start listens.
func New(opts Options) (*Server, error) {
	if opts.Identify == nil || opts.ClientCAs == nil || opts.STS == nil {
		return nil, errors.New("credentials: Identify, ClientCAs and STS are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger.With("service", "credentials")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /role-aliases/{alias}/credentials", s.serveCredentials)
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{opts.Certificate},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    opts.ClientCAs,
		},
	}
	return s, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("credentials listen %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	go func() {
		if err := s.http.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "error", err)
		}
	}()
	return nil
}

// URL is https://host:port, the iot:CredentialProvider endpoint.
func (s *Server) URL() string { return "https://" + s.ln.Addr().String() }

// Shutdown stops serving.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

func (s *Server) serveCredentials(w http.ResponseWriter, r *http.Request) {
	alias := r.PathValue("alias")
	log := s.log.With("roleAlias", alias, "remote", r.RemoteAddr)
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		forbidden(w, log, "no client certificate")
		return
	}
	id, ok := s.opts.Identify(r.TLS.PeerCertificates[0])
	if !ok {
		forbidden(w, log, "certificate not registered or not active")
		return
	}
	log = log.With("thing", id.ThingName)
	if name := r.Header.Get(ThingNameHeader); name != "" && name != id.ThingName {
		log.Info("credentials refused", "reason", fmt.Sprintf("%s %q is not the certificate's thing", ThingNameHeader, name))
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Invalid thing name passed"})
		return
	}
	// As AWS: the policies are asked first, so an alias they do not allow
	// is 403 whether or not it exists, and only an allowed one is 404.
	ra := &RoleAlias{Name: alias, Arn: "arn:aws:iot:" + s.opts.Region + ":" + s.opts.AccountID + ":rolealias/" + alias}
	known := false
	for i := range s.opts.RoleAliases {
		if s.opts.RoleAliases[i].Name == alias {
			ra, known = &s.opts.RoleAliases[i], true
		}
	}
	if !id.Allowed("", policy.AssumeRoleWithCertificate, ra.Arn) {
		forbidden(w, log, "the certificate's policies do not allow iot:AssumeRoleWithCertificate on "+ra.Arn)
		return
	}
	if !known {
		log.Info("credentials refused", "reason", "unknown role alias")
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Role alias does not exist"})
		return
	}
	session := strings.NewReplacer(":", "-").Replace(id.ThingName) // session names take [\w+=,.@-]
	out, err := s.opts.STS.AssumeRole(r.Context(), &sts.AssumeRoleInput{
		RoleArn:         aws.String(ra.RoleArn),
		RoleSessionName: aws.String(session),
		DurationSeconds: aws.Int32(int32(ra.Duration / time.Second)),
	})
	if err != nil {
		log.Error("assume role", "role", ra.RoleArn, "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	var resp wire.Provider
	c := out.Credentials
	resp.Credentials.AccessKeyID = aws.ToString(c.AccessKeyId)
	resp.Credentials.SecretAccessKey = aws.ToString(c.SecretAccessKey)
	resp.Credentials.SessionToken = aws.ToString(c.SessionToken)
	resp.Credentials.Expiration = aws.ToTime(c.Expiration).UTC().Format(time.RFC3339)
	log.Info("credentials issued", "role", ra.RoleArn, "expiration", resp.Credentials.Expiration)
	writeJSON(w, http.StatusOK, resp)
}

// forbidden answers 403 as the provider does, without saying why (the
// reason goes to devcloud's log).
func forbidden(w http.ResponseWriter, log *slog.Logger, reason string) {
	log.Info("credentials refused", "reason", reason)
	writeJSON(w, http.StatusForbidden, map[string]string{"message": "Access Denied"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
