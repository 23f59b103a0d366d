package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeyInfo is the HKDF info string of the store key.
const KeyInfo = "sward secret manager store v1"

// storeFile is the store's name in Options.Dir.
const storeFile = "secrets.enc"

// Secret is one version of a secret as Secrets Manager returned it.
type Secret struct {
	// Configured is the ARN in Options.CloudSecrets it was fetched for.
	Configured    string   `json:"configured"`
	ARN           string   `json:"arn"`
	Name          string   `json:"name"`
	VersionID     string   `json:"versionId"`
	VersionStages []string `json:"versionStages"`
	SecretString  *string  `json:"secretString,omitempty"`
	SecretBinary  []byte   `json:"secretBinary,omitempty"`
}

// deviceKey derives the store key from the device's private key file.
func deviceKey(keyFile string) ([]byte, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("secret store key: read the device private key (system.privateKeyPath): %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || len(block.Bytes) == 0 {
		return nil, fmt.Errorf("secret store key: %s holds no PEM block: system.privateKeyPath must name the device's PEM private key", keyFile)
	}
	return hkdf.Key(sha256.New, block.Bytes, nil, KeyInfo, 32)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// errStoreUnreadable marks a store this key cannot open (another device's,
// or a replaced key) or that is not a store.
var errStoreUnreadable = errors.New("secret store cannot be decrypted with this device's key")

// load reads the store; a missing file is an empty store.
func load(aead cipher.AEAD, dir string) ([]Secret, error) {
	b, err := os.ReadFile(filepath.Join(dir, storeFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(b) < n {
		return nil, errStoreUnreadable
	}
	plain, err := aead.Open(nil, b[:n], b[n:], []byte(KeyInfo))
	if err != nil {
		return nil, errStoreUnreadable
	}
	var s []Secret
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", errStoreUnreadable, err)
	}
	return s, nil
}

// save writes the store atomically: temporary file, fsync, rename, fsync
// of the folder.
func save(aead cipher.AEAD, dir string, secrets []Secret) error {
	plain, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(KeyInfo))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secret store folder: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("secret store folder: %w", err)
	}
	f, err := os.CreateTemp(dir, storeFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename: nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(sealed); err != nil {
		f.Close()
		return fmt.Errorf("secret store: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("secret store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, storeFile)); err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
