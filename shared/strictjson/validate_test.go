package strictjson

import (
	"errors"
	"testing"
)

type positive struct {
	N int `json:"n,required"`
}

func (p *positive) Validate() error {
	if p.N <= 0 {
		return errors.New("n must be positive")
	}
	return nil
}

func TestDecodeValidRunsValidateOnlyAfterTheFieldsDecoded(t *testing.T) {
	var p positive
	if err := DecodeValid([]byte(`{"n": 2}`), &p, Options{}); err != nil || p.N != 2 {
		t.Errorf("valid: %+v, %v", p, err)
	}
	if err := DecodeValid([]byte(`{"n": -1}`), &p, Options{}); err == nil || err.Error() != "n must be positive" {
		t.Errorf("invalid content: %v, want Validate's error", err)
	}
	if err := DecodeValid([]byte(`{"n": "x"}`), &p, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong type: %v, want the decode error", err)
	}
}
