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

// getSecretValue answers GetSecretValue from the store: the caller needs
// an aws.greengrass.SecretManager policy granting GetSecretValue on the
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
