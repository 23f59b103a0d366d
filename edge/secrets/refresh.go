package secrets

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ErrNoCredentials is Refresh's answer on a nucleus without the token
// exchange service: the secrets are served from the store only.
var ErrNoCredentials = errors.New("secret manager: no AWS credentials: the token exchange service runs when the device configuration sets iotCredEndpoint and iotRoleAlias")

// Refresh fetches the current version of every configured secret and
// stores what changed. A secret that cannot be fetched keeps its stored
// version (the error names it); Refresh returns once every fetch ended.
func (s *Service) Refresh(ctx context.Context) error {
	return s.refresh(ctx, s.opts.CloudSecrets)
}

// RefreshSecret fetches the current version of the configured secret whose
// ARN or name is id (GetSecretValue with refresh), as Refresh does for all.
func (s *Service) RefreshSecret(ctx context.Context, id string) error {
	s.mu.RLock()
	var arns []string
	for _, arn := range s.opts.CloudSecrets {
		if sec, ok := s.secrets[arn]; arn == id || ok && (sec.ARN == id || sec.Name == id) {
			arns = append(arns, arn)
		}
	}
	s.mu.RUnlock()
	if len(arns) == 0 {
		// Not fetched yet: its name is known only once it is, so fetch all.
		arns = s.opts.CloudSecrets
	}
	return s.refresh(ctx, arns)
}

func (s *Service) refresh(ctx context.Context, arns []string) error {
	if len(arns) == 0 {
		return nil
	}
	if s.client == nil {
		s.log.Warn("secrets not fetched; served from the store", "error", ErrNoCredentials)
		return ErrNoCredentials
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	var errs []error
	fetched := map[string]Secret{}
	for _, arn := range arns {
		sec, err := s.fetch(ctx, arn)
		if err != nil {
			s.log.Warn("secret not fetched; the stored version, if any, is served", "arn", arn, "error", err)
			errs = append(errs, fmt.Errorf("secret %s: %w", arn, err))
			continue
		}
		fetched[arn] = sec
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for arn, sec := range fetched {
		if old, ok := s.secrets[arn]; !ok || !sameSecret(old, sec) {
			changed = true
		}
	}
	if changed {
		next := make([]Secret, 0, len(s.secrets)+len(fetched))
		merged := map[string]Secret{}
		for arn, sec := range s.secrets {
			merged[arn] = sec
		}
		for arn, sec := range fetched {
			merged[arn] = sec
		}
		for _, sec := range merged {
			next = append(next, sec)
		}
		// Stored before served: what a component read survives a kill -9.
		if err := save(s.aead, s.opts.Dir, next); err != nil {
			s.log.Error("secret store not written; the previous secrets are served", "error", err)
			return errors.Join(append(errs, err)...)
		}
		s.secrets = merged
		s.log.Info("secrets stored", "fetched", len(fetched), "of", len(arns))
	}
	return errors.Join(errs...)
}

func (s *Service) fetch(ctx context.Context, arn string) (Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(StageCurrent)})
	if err != nil {
		return Secret{}, err
	}
	return Secret{Configured: arn, ARN: aws.ToString(out.ARN), Name: aws.ToString(out.Name), VersionID: aws.ToString(out.VersionId),
		VersionStages: out.VersionStages, SecretString: out.SecretString, SecretBinary: out.SecretBinary}, nil
}

func sameSecret(a, b Secret) bool {
	return a.ARN == b.ARN && a.Name == b.Name && a.VersionID == b.VersionID && slices.Equal(a.VersionStages, b.VersionStages) &&
		aws.ToString(a.SecretString) == aws.ToString(b.SecretString) && (a.SecretString == nil) == (b.SecretString == nil) &&
		string(a.SecretBinary) == string(b.SecretBinary)
}

// Wait returns once the fetch at start has ended, or ctx did: a secret
// not yet stored (on a first start) may be there after it.
func (s *Service) Wait(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrNotFound is Get's answer for a secret the manager does not hold.
var ErrNotFound = errors.New("secret not found")

// Get returns the stored secret whose ARN or name is id, at versionID
// and/or versionStage when given (otherwise AWSCURRENT).
func (s *Service) Get(id, versionID, versionStage string) (Secret, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for arn, sec := range s.secrets {
		if id != arn && id != sec.ARN && id != sec.Name {
			continue
		}
		stage := versionStage
		if stage == "" && versionID == "" {
			stage = StageCurrent
		}
		if versionID != "" && versionID != sec.VersionID {
			return Secret{}, fmt.Errorf("%w: %s is held at version %s only (the secret manager keeps the AWSCURRENT version)", ErrNotFound, id, sec.VersionID)
		}
		if stage != "" && !slices.Contains(sec.VersionStages, stage) {
			return Secret{}, fmt.Errorf("%w: %s has no version labelled %s here (the secret manager keeps the AWSCURRENT version)", ErrNotFound, id, stage)
		}
		return sec, nil
	}
	return Secret{}, fmt.Errorf("%w: %s is not one of the secrets the device fetched: add its ARN to services.aws.greengrass.SecretManager.configuration.cloudSecrets; if it is there, the nucleus log says why it was not fetched", ErrNotFound, id)
}
