package testutil

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// Moto is one moto_server process: S3, DynamoDB, the IoT control plane and
// the IoT data plane on one loopback port, for tests of the cloud half.
type Moto struct {
	// URL is the endpoint, http://127.0.0.1:<port>; AWS_ENDPOINT_URL.
	URL string
	// Region is the region the tests use.
	Region string

	cmd       *exec.Cmd
	dir       string
	recording string
	output    *testlog.Buffer
	done      chan struct{}
}

// MotoRegion and MotoCredentials are what tests give the SDK for moto.
const (
	MotoRegion      = "us-east-1"
	MotoCredentials = "testing"
)

// ErrNoMoto is returned by StartMoto when moto_server is not on PATH.
var ErrNoMoto = errors.New("moto_server is not on PATH: `make tools` installs it (pip install 'moto[server]')")

// StartMoto starts moto_server on a free loopback port with request
// recording available (Recorded) and waits until it answers. Stop it with
// Stop. moto takes a few seconds to start, so a test package shares one
// (start it in TestMain) and tests keep apart by naming their own buckets
// and tables. env adds moto settings ("INITIAL_NO_AUTH_ACTION_COUNT=2":
// after two requests moto checks credentials, so unknown ones get 403).
func StartMoto(env ...string) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	dir, err := os.MkdirTemp("", "sward-moto-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port can be taken between the check and moto's bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &Moto{
			URL:       "http://127.0.0.1:" + strconv.Itoa(port),
			Region:    MotoRegion,
			dir:       dir,
			recording: filepath.Join(dir, "recording.jsonl"),
			output:    &testlog.Buffer{},
			done:      make(chan struct{}),
		}
		m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		m.cmd.Env = append(append(os.Environ(), "MOTO_RECORDER_FILEPATH="+m.recording), env...)
		m.cmd.Stdout, m.cmd.Stderr = m.output, m.output
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := m.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		go func() { _ = m.cmd.Wait(); close(m.done) }()
		if lastErr = m.waitReady(30 * time.Second); lastErr == nil {
			return m, nil
		}
		m.stopProcess()
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// waitReady polls moto's API until it answers or the process exits.
func (m *Moto) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	for {
		select {
		case <-m.done:
			return fmt.Errorf("moto_server exited early:\n%s", m.output.String())
		default:
		}
		resp, err := http.Get(m.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto_server did not answer within %s: %v\n%s", timeout, err, m.output.String())
		}
		time.Sleep(delay)
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// Stop ends moto_server (SIGTERM to its process group, SIGKILL after 5 s)
// and removes its files.
func (m *Moto) Stop() {
	m.stopProcess()
	os.RemoveAll(m.dir)
}

func (m *Moto) stopProcess() {
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	}
}

// Output is everything moto printed so far (one line per request).
func (m *Moto) Output() string { return m.output.String() }

// Config is an SDK configuration for moto: static test credentials, the
// test region, moto's endpoint, and no retries, so a failure shows at once.
func (m *Moto) Config() aws.Config {
	return aws.Config{
		Region:           m.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(MotoCredentials, MotoCredentials, ""),
		BaseEndpoint:     aws.String(m.URL),
		RetryMaxAttempts: 1,
	}
}

// Env is the environment a Lambda process needs to reach moto.
func (m *Moto) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + m.URL,
		"AWS_REGION=" + m.Region,
		"AWS_ACCESS_KEY_ID=" + MotoCredentials,
		"AWS_SECRET_ACCESS_KEY=" + MotoCredentials,
	}
}

// StartRecording makes moto record every request it receives from now on
// (its recorder: /moto-api/recorder). moto keeps what the IoT data plane
// publishes in memory without an API to read it back, so the recording is
// how a test sees a Publish: the request moto received, topic and payload.
func (m *Moto) StartRecording(t testing.TB) {
	t.Helper()
	for _, op := range []string{"reset-recording", "start-recording"} {
		resp, err := http.Post(m.URL+"/moto-api/recorder/"+op, "application/json", nil)
		if err != nil {
			t.Fatalf("moto %s: %v", op, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("moto %s: %s", op, resp.Status)
		}
	}
}

// RecordedRequest is one request moto recorded.
type RecordedRequest struct {
	Method string
	// Path is the URL path, percent-decoded.
	Path  string
	Query string
	// Header holds the request's headers as moto saw them.
	Header map[string]string
	Body   []byte
}

// Recorded returns the requests recorded since StartRecording.
func (m *Moto) Recorded(t testing.TB) []RecordedRequest {
	t.Helper()
	f, err := os.Open(m.recording)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []RecordedRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e struct {
			Method      string            `json:"method"`
			URL         string            `json:"url"`
			Headers     map[string]string `json:"headers"`
			Body        string            `json:"body"`
			BodyEncoded bool              `json:"body_encoded"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("moto recording: %v", err)
		}
		r := RecordedRequest{Method: e.Method, Header: e.Headers, Body: []byte(e.Body)}
		if e.BodyEncoded {
			if r.Body, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
				t.Fatalf("moto recording body: %v", err)
			}
		}
		path, query, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(e.URL, "http://"), "https://"), "?")
		if i := strings.IndexByte(path, '/'); i >= 0 {
			path = path[i:]
		}
		if r.Path, err = url.PathUnescape(path); err != nil {
			r.Path = path
		}
		r.Query = query
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Published returns the payloads of the IoT data plane Publish requests
// moto recorded for topic, in order. The SDK escapes the '/' of a topic in
// the request path, so paths are compared decoded.
func (m *Moto) Published(t testing.TB, topic string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range m.Recorded(t) {
		if r.Method == http.MethodPost && r.Path == "/topics/"+topic {
			out = append(out, r.Body)
		}
	}
	return out
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
