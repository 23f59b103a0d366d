package secrets

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// getSecretValue answers GetSecretValue from the store, fetching the
// secret first when the request sets refresh: the caller needs an
// aws.greengrass.SecretManager policy granting GetSecretValue on the
// secret's ARN (or "*").
func (s *Service) getSecretValue(ctx context.Context, c *op.Call) (any, error) {
	var req wire.GetSecretValueRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.SecretID == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "secretId is missing: send the secret's ARN or name")
	}
	if s == nil {
		return nil, wire.Errorf(wire.CodeResourceNotFound, "%s: this nucleus fetches no secrets: name them in the device configuration file (sward run --config) under "+
			"services.aws.greengrass.SecretManager.configuration.cloudSecrets", req.SecretID)
	}
	if req.Refresh {
		if arn, ok := s.configuredARN(req.SecretID); ok {
			// Only a caller allowed to read the secret makes the device
			// call the cloud for it.
			if err := c.Authorize(authz.ServiceSecretManager, c.Name, arn); err != nil {
				return nil, err
			}
			// Bounded as the wait at start is; on failure (logged,
			// naming the secret) the stored version is served, as offline.
			rctx, cancel := context.WithTimeout(ctx, answerWithin)
			_ = s.RefreshSecret(rctx, req.SecretID)
			cancel()
		}
	}
	sec, err := s.Get(req.SecretID, req.VersionID, req.VersionStage)
	if errors.Is(err, ErrNotFound) && !s.started() {
		// The nucleus has just started: the secret may be on its way.
		wctx, cancel := context.WithTimeout(ctx, answerWithin)
		err = s.Wait(wctx)
		cancel()
		if err == nil {
			sec, err = s.Get(req.SecretID, req.VersionID, req.VersionStage)
		} else {
			err = fmt.Errorf("%w: %s: the secrets are still being fetched (the nucleus has just started): retry", ErrNotFound, req.SecretID)
		}
	}
	if errors.Is(err, ErrNotFound) {
		return nil, wire.Errorf(wire.CodeResourceNotFound, "%v", err)
	}
	if err != nil {
		return nil, wire.Errorf(wire.CodeService, "%v", err)
	}
	if err := c.Authorize(authz.ServiceSecretManager, c.Name, sec.ARN); err != nil {
		return nil, err
	}
	return wire.GetSecretValueResponse{SecretID: sec.ARN, VersionID: sec.VersionID, VersionStage: slices.Clone(sec.VersionStages),
		SecretValue: wire.SecretValue{SecretString: sec.SecretString, SecretBinary: sec.SecretBinary}}, nil
}

// started reports whether the fetch at start has ended.
func (s *Service) started() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// configuredARN returns the ARN of the stored or configured secret whose
// ARN or name is id.
func (s *Service) configuredARN(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for arn, sec := range s.secrets {
		if id == arn || id == sec.ARN || id == sec.Name {
			return sec.ARN, true
		}
	}
	if slices.Contains(s.opts.CloudSecrets, id) {
		return id, true
	}
	return "", false
}
