package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sward-iot/sward/shared/ipc"
)

// SubjectPrefix is the subject space of the control API. Component and device
// users are denied publishing under it.
const SubjectPrefix = "sward.control"

// Subjects of the control API operations (request/reply, JSON bodies).
const (
	SubjectComponentList    = SubjectPrefix + ".component.list"
	SubjectComponentDetails = SubjectPrefix + ".component.details"
	SubjectComponentRestart = SubjectPrefix + ".component.restart"
	SubjectComponentStop    = SubjectPrefix + ".component.stop"
)

// StopWait bounds how long a stop request waits for the component to
// stop: its Shutdown step (15 s by default), then SIGTERM and SIGKILL 5 s
// later, with room to spare. A component still STOPPING then is reported
// as such.
const StopWait = 30 * time.Second

// Error codes carried in a Response's error: the Greengrass IPC error codes
// that shared/ipc defines, so the CLI and components read one set of names.
const (
	CodeResourceNotFound = ipc.CodeResourceNotFound
	CodeInvalidArguments = ipc.CodeInvalidArguments
	CodeService          = ipc.CodeService
)

// ComponentRequest names the component an operation is about.
type ComponentRequest struct {
	Name string `json:"name"`
}

// Component is one component as the nucleus reports it.
type Component struct {
	Name    string    `json:"name"`
	Version string    `json:"version"`
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Since   time.Time `json:"since"`
	PID     int       `json:"pid,omitempty"`
	// Paused: PauseComponent froze the component's processes.
	Paused       bool         `json:"paused,omitempty"`
	Restarts     int          `json:"restarts"`
	Dependencies []Dependency `json:"dependencies,omitempty"`
	WorkDir      string       `json:"workDir,omitempty"`
	LogFile      string       `json:"logFile,omitempty"`
}

// Dependency is one declared dependency of a component.
type Dependency struct {
	Name string `json:"name"`
	Type string `json:"type"` // HARD or SOFT
}

// Error is the error body of a failed operation: the IPC error of
// shared/ipc, {"code","message"}.
type Error = ipc.Error

// response is the envelope of every reply: exactly one of Result and Error.
type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Credential is what the CLI needs to reach the nucleus: written by the
// nucleus into <root>/admin.json.
type Credential struct {
	NATSURL  string `json:"natsURL"`
	User     string `json:"user"`
	Password string `json:"password"`
	PID      int    `json:"pid"`
	// TLSCA is the CA bundle the listeners' certificate chains to, set when
	// they use TLS; TLSServerName the name to verify it under when it does
	// not name the NATSURL host.
	TLSCA         string `json:"tlsCA,omitempty"`
	TLSServerName string `json:"tlsServerName,omitempty"`
}

// CredentialFile is the admin credential's file name inside the root folder.
const CredentialFile = "admin.json"

// CredentialPath returns where the admin credential of the nucleus at root lives.
func CredentialPath(root string) string { return filepath.Join(root, CredentialFile) }

// WriteCredential atomically writes c to root with mode 0600.
func WriteCredential(root string, c Credential) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	path := CredentialPath(root)
	tmp, err := os.CreateTemp(root, ".admin-*.json")
	if err != nil {
		return fmt.Errorf("write admin credential in %s: %w", root, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write admin credential %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write admin credential %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write admin credential %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write admin credential %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// ErrNotRunning means no nucleus answers for the given root folder.
var ErrNotRunning = errors.New("nucleus is not running")

// ReadCredential reads the admin credential of the nucleus at root. A missing
// file wraps ErrNotRunning.
func ReadCredential(root string) (Credential, error) {
	path := CredentialPath(root)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Credential{}, fmt.Errorf("%w at root %s (no admin credential at %s)", ErrNotRunning, root, path)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("read admin credential %s: %w", path, err)
	}
	var c Credential
	if err := json.Unmarshal(data, &c); err != nil {
		return Credential{}, fmt.Errorf("admin credential %s is not valid JSON (%v): restart the nucleus to rewrite it", path, err)
	}
	if c.NATSURL == "" || c.User == "" {
		return Credential{}, fmt.Errorf("admin credential %s lacks natsURL or user: restart the nucleus to rewrite it", path)
	}
	return c, nil
}

// RemoveCredential deletes the admin credential at a clean shutdown.
func RemoveCredential(root string) error {
	err := os.Remove(CredentialPath(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
