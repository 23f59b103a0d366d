package secrets

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/nats-io/nats.go"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/service"
)

// StageCurrent is the staging label of a secret's current version, the
// one the secret manager fetches.
const StageCurrent = "AWSCURRENT"

// Credentials gives AWS credentials: the token exchange service
// (tes.Service) in the nucleus, static ones in tests.
type Credentials interface {
	Retrieve(ctx context.Context) (aws.Credentials, error)
}

// Options configure the secret manager.
type Options struct {
	// CloudSecrets are the ARNs of the secrets to fetch (Greengrass's
	// aws.greengrass.SecretManager configuration cloudSecrets).
	CloudSecrets []string
	// Dir is the store's folder (<root>/secrets). Required.
	Dir string
	// KeyFile is the device's PEM private key, from which the store key is
	// derived. Required when CloudSecrets is not empty.
	KeyFile string
	// Region is the Secrets Manager region. Required with Credentials.
	Region string
	// Endpoint overrides the Secrets Manager endpoint ("": AWS's).
	Endpoint string
	// Credentials sign the requests; nil: secrets are served from the
	// store only.
	Credentials Credentials
	// HTTPClient carries the requests (a proxy); nil: the SDK's.
	HTTPClient *http.Client
	// Timeout bounds one fetch of one secret; 0: 30 s.
	Timeout time.Duration
	// Conn, when set, is how the service follows the deployment records
	// (deployment.RecordsSubject of DeploymentsBucket): the secrets are
	// fetched again whenever a deployment ends, as Greengrass's secret
	// manager syncs on deployment.
	Conn *nats.Conn
	// DeploymentsBucket is the deployment records' KV bucket; "":
	// deployment.DefaultBucket.
	DeploymentsBucket string
	Logger            *slog.Logger
}

// Service is the secret manager.
type Service struct {
	opts   Options
	log    *slog.Logger
	client *secretsmanager.Client // nil without credentials

	refreshMu sync.Mutex // one Refresh at a time
	mu        sync.RWMutex
	aead      cipher.AEAD
	secrets   map[string]Secret // by configured ARN

	worker service.Worker
	done   chan struct{} // closed when the fetch at start has ended
	kick   chan struct{} // a deployment ended: fetch again (coalesced)
	sub    *nats.Subscription
	ended  map[string]bool // deployments already acted on
}

// New checks opts and builds the service; it reads no file.
func New(opts Options) (*Service, error) {
	if opts.Dir == "" {
		return nil, errors.New("secret manager: Options.Dir (the store's folder) is required")
	}
	for i, arn := range opts.CloudSecrets {
		if arn == "" {
			return nil, fmt.Errorf("secret manager: cloudSecrets[%d].arn is empty: name the secret's ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX)", i)
		}
	}
	if len(opts.CloudSecrets) > 0 && opts.KeyFile == "" {
		return nil, errors.New("secret manager: cloudSecrets need the device's private key to encrypt the store: set system.privateKeyPath and, " +
			"so that the secrets can be fetched, services.aws.greengrass.Nucleus.configuration iotDataEndpoint, iotCredEndpoint and iotRoleAlias (`sward provision` writes them)")
	}
	if opts.Credentials != nil && opts.Region == "" {
		return nil, errors.New("secret manager: Options.Region is required to fetch secrets (services.aws.greengrass.Nucleus.configuration.awsRegion)")
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DeploymentsBucket == "" {
		opts.DeploymentsBucket = deployment.DefaultBucket
	}
	s := &Service{opts: opts, log: opts.Logger.With("service", "secret manager"), secrets: map[string]Secret{},
		done: make(chan struct{}), kick: make(chan struct{}, 1), ended: map[string]bool{}}
	if opts.Credentials != nil {
		o := secretsmanager.Options{Region: opts.Region, Credentials: aws.NewCredentialsCache(provider{opts.Credentials})}
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		s.client = secretsmanager.New(o)
	}
	return s, nil
}

type provider struct{ Credentials }

// Start opens the store (so the secrets are served at once, offline too)
// and fetches the secrets in the background, then again after every
// deployment that ends.
func (s *Service) Start(ctx context.Context) error {
	if len(s.opts.CloudSecrets) > 0 {
		key, err := deviceKey(s.opts.KeyFile)
		if err != nil {
			return err
		}
		if s.aead, err = newAEAD(key); err != nil {
			return err
		}
		stored, err := load(s.aead, s.opts.Dir)
		switch {
		case errors.Is(err, errStoreUnreadable):
			s.log.Warn("secret store dropped: it was written with another device key; the secrets are fetched again", "error", err)
		case err != nil:
			return fmt.Errorf("secret manager: %w", err)
		}
		for _, sec := range stored {
			if slices.Contains(s.opts.CloudSecrets, sec.Configured) { // a secret no longer configured is no longer served
				s.secrets[sec.Configured] = sec
			}
		}
	}
	if s.opts.Conn != nil && len(s.opts.CloudSecrets) > 0 {
		sub, err := s.opts.Conn.Subscribe(deployment.RecordsSubject(s.opts.DeploymentsBucket), s.onDeploymentRecord)
		if err != nil {
			return fmt.Errorf("secret manager: follow deployments: %w", err)
		}
		s.sub = sub
	}
	s.worker.Go(s.run)
	return nil
}

// run fetches the secrets at start, then each time a deployment ended,
// one fetch at a time: deployments that end during a fetch make one more.
func (s *Service) run(ctx context.Context) {
	_ = s.Refresh(ctx) // logged
	close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			s.log.Info("fetching the secrets again: a deployment ended")
			_ = s.Refresh(ctx) // logged
		}
	}
}

func (s *Service) onDeploymentRecord(m *nats.Msg) {
	st, ok := deployment.Ended(m.Data)
	if !ok {
		return
	}
	s.mu.Lock()
	seen := s.ended[st.DeploymentID]
	s.ended[st.DeploymentID] = true
	s.mu.Unlock()
	if seen {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default: // a fetch is already asked for
	}
}

// Shutdown stops following deployments and a fetch under way.
func (s *Service) Shutdown(ctx context.Context) error {
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	return s.worker.Stop(ctx, "secret manager")
}
