package devcloud

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sward-iot/sward/infra/devcloud/credentials"
	"github.com/sward-iot/sward/infra/devcloud/iotcore"
	"github.com/sward-iot/sward/infra/devcloud/jobs"
	"github.com/sward-iot/sward/infra/devcloud/lambdas"
	"github.com/sward-iot/sward/infra/devcloud/policy"
	"github.com/sward-iot/sward/infra/devcloud/resources"
	"github.com/sward-iot/sward/infra/devcloud/shadows"
	"github.com/sward-iot/sward/infra/devcloud/status"
	"github.com/sward-iot/sward/infra/devcloud/template"
)

// DefaultRegion is the region devcloud's ARNs and moto use.
const DefaultRegion = "us-east-1"

// MotoRecordingFile is the file of DIR where devcloud keeps the requests
// made to the moto_server it starts, replayed at the next `up` so that
// moto's state survives (moto keeps nothing on disk itself).
const MotoRecordingFile = "moto-recording.jsonl"

// StackName is the stack the template is resolved as.
const StackName = "SwardCloud"

// Options configure a Server. Zero values are the defaults.
type Options struct {
	// Template is the synthesized template, cdk.out/SwardCloud.template.json.
	Template string
	// DataDir holds the CA, the things and devcloud.json.
	DataDir string
	// MotoEndpoint is a running moto_server's URL; empty starts one on a
	// free loopback port (and stops it at Shutdown).
	MotoEndpoint string
	// MQTTListen stands in for port 8883, MQTTALPNListen for 443
	// (default 127.0.0.1:0 each: a free port).
	MQTTListen, MQTTALPNListen string
	// CredentialsListen is the credentials provider's address (default
	// 127.0.0.1:0).
	CredentialsListen string
	// DataHTTPListen is the IoT data plane's HTTP API (default 127.0.0.1:0).
	DataHTTPListen string
	// IoTListen is the IoT control plane's HTTP API: jobs, the status
	// report, everything else passed to moto (default 127.0.0.1:0).
	IoTListen string
	// Region defaults to DefaultRegion.
	Region string
	Logger *slog.Logger
	// MotoOutput receives moto_server's output (default: discarded).
	MotoOutput io.Writer
	// LambdaDir holds the functions' builds, <name>/bootstrap
	// (dist/lambdas of `make lambdas GOARCH=amd64`); RIE is the runtime
	// interface emulator (default: aws-lambda-rie on PATH or beside the
	// devcloud binary).
	LambdaDir, RIE string
	// LambdaInstances bounds each function's concurrent instances
	// (default 2); LambdaRetryDelays are the waits before the retries of
	// a failed asynchronous invocation, one retry per entry, at most two
	// (default Lambda's 1 and 2 minutes).
	LambdaInstances   int
	LambdaRetryDelays []time.Duration
	// S3Listen is devcloud's S3 endpoint, the proxy to moto that
	// delivers S3 notifications (default 127.0.0.1:0).
	S3Listen string
	// DynamoDBListen is devcloud's DynamoDB endpoint, the proxy that
	// passes requests to moto one at a time (default 127.0.0.1:0).
	DynamoDBListen string
}

// Server is a running devcloud: New, Start, Info, Shutdown.
type Server struct {
	opts     Options
	log      *slog.Logger
	tmpl     *template.Template
	policies map[string]*policy.Document
	ca       *CA
	moto     *motoProcess
	iot      *iotcore.Server
	creds    *credentials.Server
	dataHTTP *http.Server
	info     Info
	rt       ruleRuntime

	jobs        *jobs.Service
	controlHTTP *http.Server
	dynamoHTTP  *http.Server
	ruleCounter atomic.Pointer[status.RuleCounter]

	mu     sync.Mutex
	things map[string]*Thing     // by certificateID of the DER certificate
	issued map[string]issuedCert // certificates the control plane issued, likewise
}

// New checks the options, reads the template and loads (or creates) the
// CA.
func New(opts Options) (*Server, error) {
	if opts.Template == "" || opts.DataDir == "" {
		return nil, errors.New("devcloud: --template and --data are required")
	}
	if opts.MQTTListen == "" {
		opts.MQTTListen = "127.0.0.1:0"
	}
	if opts.MQTTALPNListen == "" {
		opts.MQTTALPNListen = "127.0.0.1:0"
	}
	if opts.CredentialsListen == "" {
		opts.CredentialsListen = "127.0.0.1:0"
	}
	if opts.DataHTTPListen == "" {
		opts.DataHTTPListen = "127.0.0.1:0"
	}
	if opts.IoTListen == "" {
		opts.IoTListen = "127.0.0.1:0"
	}
	if opts.S3Listen == "" {
		opts.S3Listen = "127.0.0.1:0"
	}
	if opts.DynamoDBListen == "" {
		opts.DynamoDBListen = "127.0.0.1:0"
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if err := lambdas.CheckRetryDelays(opts.LambdaRetryDelays); err != nil {
		return nil, fmt.Errorf("devcloud: --lambda-retry-delays: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MotoOutput == nil {
		opts.MotoOutput = io.Discard
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	opts.DataDir = dataDir
	tmpl, err := template.Load(opts.Template, template.Env{Region: opts.Region, AccountID: motoAccountID, StackName: StackName})
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger.With("service", "devcloud"), tmpl: tmpl, policies: map[string]*policy.Document{}, things: map[string]*Thing{}}
	for _, p := range tmpl.Policies {
		doc, err := policy.Parse(p.Document)
		if err != nil {
			return nil, fmt.Errorf("template %s: policy %s (%s): %w", opts.Template, p.Name, p.LogicalID, err)
		}
		s.policies[p.Name] = doc
	}
	if err := s.compileRules(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if s.ca, err = loadOrCreateCA(filepath.Join(dataDir, "ca")); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts moto (unless an endpoint was given), registers the
// template's IoT resources and DIR's things in it, starts the data
// endpoint and writes DIR/devcloud.json. It does not block.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.Shutdown()
		}
	}()
	motoURL := s.opts.MotoEndpoint
	if motoURL == "" {
		if s.moto, err = startMoto(s.opts.MotoOutput, filepath.Join(s.opts.DataDir, MotoRecordingFile)); err != nil {
			return err
		}
		motoURL = s.moto.url
	} else if err := waitMoto(motoURL, nil, motoStartTimeout); err != nil {
		return err
	}
	s.info = Info{
		Region:      s.opts.Region,
		AccountID:   motoAccountID,
		CAFile:      filepath.Join(s.opts.DataDir, "ca", caCertFile),
		Credentials: Credentials{AccessKeyID: motoCredentials, SecretAccessKey: motoCredentials},
		Endpoints:   Endpoints{AWS: motoURL},
		ThingsDir:   thingsDir(s.opts.DataDir),
		ThingGroups: s.tmpl.ThingGroups,
		PID:         os.Getpid(),
	}
	for _, p := range s.tmpl.Policies {
		s.info.Policies = append(s.info.Policies, p.Name)
	}
	for _, r := range s.tmpl.RoleAliases {
		s.info.RoleAliases = append(s.info.RoleAliases, r.Name)
	}
	if err := s.registerAll(ctx); err != nil {
		return err
	}
	created, err := resources.Ensure(ctx, s.info.AWSConfig(), s.tmpl)
	if err != nil {
		return err
	}
	s.log.Info("template resources in moto", "bucketsCreated", created.Buckets, "tablesCreated", created.Tables, "logGroupsCreated", created.LogGroups)
	serverCert, err := s.ca.serverCertificate()
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	s.iot, err = iotcore.New(iotcore.Options{
		Listen: s.opts.MQTTListen, ALPNListen: s.opts.MQTTALPNListen,
		Certificate: serverCert, ClientCAs: pool,
		Identify: s.identify,
		Region:   s.opts.Region, AccountID: motoAccountID,
		Logger: s.opts.Logger,
	})
	if err != nil {
		return err
	}
	if err := s.iot.Start(); err != nil {
		return err
	}
	s.info.Endpoints.IoTData, s.info.Endpoints.IoTDataALPN = s.iot.Addr(), s.iot.ALPNAddr()
	ln, err := net.Listen("tcp", s.opts.DataHTTPListen)
	if err != nil {
		return fmt.Errorf("data plane listen %s: %w", s.opts.DataHTTPListen, err)
	}
	shadowService := shadows.New(filepath.Join(s.opts.DataDir, "shadows"), func(topic string, payload []byte) {
		if err := s.iot.Publish(topic, payload, 0, false); err != nil {
			s.log.Error("publish shadow answer", "topic", topic, "error", err)
		}
	}, s.opts.Logger)
	if err := s.iot.Handle(shadows.Filter, shadowService.HandleMQTT); err != nil {
		return err
	}
	mux := http.NewServeMux()
	s.iot.RegisterHTTP(mux)
	shadowService.RegisterHTTP(mux)
	s.dataHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.dataHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("data plane", "error", err)
		}
	}()
	s.info.Endpoints.IoTDataHTTP = "http://" + ln.Addr().String()
	if err := s.startControlPlane(motoURL); err != nil {
		return err
	}
	if err := s.startDynamoDB(motoURL); err != nil {
		return err
	}
	if err := s.startRules(); err != nil {
		return err
	}
	var aliases []credentials.RoleAlias
	for _, r := range s.tmpl.RoleAliases {
		aliases = append(aliases, credentials.RoleAlias{
			Name:     r.Name,
			Arn:      "arn:aws:iot:" + s.opts.Region + ":" + motoAccountID + ":rolealias/" + r.Name,
			RoleArn:  r.RoleArn,
			Duration: time.Duration(r.CredentialDurationSeconds) * time.Second,
		})
	}
	s.creds, err = credentials.New(credentials.Options{
		Listen:      s.opts.CredentialsListen,
		Certificate: serverCert, ClientCAs: pool,
		Identify:    s.identify,
		RoleAliases: aliases,
		Region:      s.opts.Region,
		AccountID:   motoAccountID,
		STS:         sts.NewFromConfig(s.info.AWSConfig()),
		Logger:      s.opts.Logger,
	})
	if err != nil {
		return err
	}
	if err := s.creds.Start(); err != nil {
		return err
	}
	s.info.Endpoints.Credentials = s.creds.URL()
	if err := writeJSON(filepath.Join(s.opts.DataDir, InfoFile), s.info); err != nil {
		return err
	}
	s.log.Info("devcloud ready", "aws", motoURL, "iotData", s.info.Endpoints.IoTData, "iotDataAlpn", s.info.Endpoints.IoTDataALPN,
		"credentials", s.info.Endpoints.Credentials, "iot", s.info.Endpoints.IoT, "data", s.opts.DataDir)
	return nil
}

// registerAll puts the template's policies, thing groups and stack
// outputs and every thing of DIR into moto, which starts empty each time.
func (s *Server) registerAll(ctx context.Context) error {
	client := iot.NewFromConfig(s.info.AWSConfig())
	for _, p := range s.tmpl.Policies {
		_, err := client.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String(p.Name), PolicyDocument: aws.String(string(p.Document))})
		var exists *iottypes.ResourceAlreadyExistsException
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register policy %s: %w", p.Name, err)
		}
	}
	for _, g := range s.tmpl.ThingGroups {
		if err := ensureThingGroup(ctx, client, g); err != nil {
			return err
		}
	}
	if err := s.registerStack(ctx); err != nil {
		return err
	}
	things, err := loadThings(s.opts.DataDir)
	if err != nil {
		return err
	}
	for _, th := range things {
		if _, err := client.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(th.ThingName)}); err == nil {
			continue // a moto that outlived devcloud still has it
		}
		if err := register(ctx, client, th, string(th.certificatePEM())); err != nil {
			return err
		}
	}
	return nil
}

// identify maps a verified client certificate to its thing and policies.
// It reads the thing's folder at each call: `devcloud thing create` and
// `thing revoke` run in other processes.
func (s *Server) identify(cert *x509.Certificate) (policy.Identity, bool) {
	id := certificateID(cert.Raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	th, ok := s.things[id]
	if ok {
		fresh, err := loadThing(filepath.Join(thingsDir(s.opts.DataDir), th.ThingName))
		if err != nil {
			s.log.Error("read thing", "thing", th.ThingName, "error", err)
			return policy.Identity{}, false
		}
		th = fresh
	} else {
		things, err := loadThings(s.opts.DataDir)
		if err != nil {
			s.log.Error("read things", "error", err)
			return policy.Identity{}, false
		}
		for _, t := range things {
			s.things[certificateID(t.certificate.Raw)] = t
		}
		if th, ok = s.things[id]; !ok {
			return s.identifyIssued(id)
		}
	}
	if th.CertificateStatus != string(iottypes.CertificateStatusActive) {
		return policy.Identity{}, false
	}
	identity := policy.Identity{ThingName: th.ThingName}
	for _, name := range th.Policies {
		if doc, ok := s.policies[name]; ok {
			identity.Policies = append(identity.Policies, doc)
		}
	}
	return identity, true
}

// Info is what devcloud.json holds.
func (s *Server) Info() Info { return s.info }

// Shutdown stops the data endpoint and the moto_server devcloud started,
// and removes devcloud.json. The data folder keeps everything else.
func (s *Server) Shutdown() {
	s.shutdownControlPlane()
	if s.dataHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.dataHTTP.Shutdown(ctx)
		cancel()
	}
	if s.creds != nil {
		if err := s.creds.Shutdown(); err != nil {
			s.log.Warn("stop the credentials provider", "error", err)
		}
	}
	s.stopRules()
	s.shutdownDynamoDB()
	if s.iot != nil {
		if err := s.iot.Shutdown(); err != nil {
			s.log.Warn("stop the data endpoint", "error", err)
		}
	}
	if s.moto != nil {
		s.moto.stop()
	}
	_ = os.Remove(filepath.Join(s.opts.DataDir, InfoFile))
}
