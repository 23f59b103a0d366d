package devcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// InfoFile is the name of the file `devcloud up` writes in DIR.
const InfoFile = "devcloud.json"

// ErrNotRunning is returned by ReadInfo when no devcloud runs on DIR.
var ErrNotRunning = errors.New("devcloud is not running")

// Info is DIR/devcloud.json: what clients, tests and the nucleus read to
// reach a running devcloud.
type Info struct {
	Region    string `json:"region"`
	AccountID string `json:"accountId"`
	// CAFile verifies the data endpoint (the stand-in for AmazonRootCA1).
	CAFile      string      `json:"caFile"`
	Credentials Credentials `json:"credentials"`
	Endpoints   Endpoints   `json:"endpoints"`
	ThingsDir   string      `json:"thingsDir"`
	// What the template declares.
	Policies    []string `json:"policies"`
	ThingGroups []string `json:"thingGroups"`
	RoleAliases []string `json:"roleAliases"`
	// PID is the devcloud process.
	PID int `json:"pid"`
}

// Credentials are the static credentials moto accepts.
type Credentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// Endpoints are where each part listens.
type Endpoints struct {
	// AWS is moto's URL, for AWS_ENDPOINT_URL (S3, DynamoDB, the IoT
	// control plane, Secrets Manager, CloudWatch Logs).
	AWS string `json:"aws"`
	// IoTData is host:port of MQTT over TLS (standing in for 8883);
	// IoTDataALPN the one requiring ALPN x-amzn-mqtt-ca (for 443).
	IoTData     string `json:"iotData"`
	IoTDataALPN string `json:"iotDataAlpn"`
	// IoTDataHTTP is the IoT data plane's HTTP API, http://host:port (the
	// iotdataplane client's BaseEndpoint, the Lambdas'
	// AWS_ENDPOINT_URL_IOT_DATA_PLANE).
	IoTDataHTTP string `json:"iotDataHttp"`
	// Credentials is the IoT credentials provider, https://host:port
	// (GET /role-aliases/<alias>/credentials over mutual TLS).
	Credentials string `json:"credentials"`
	// IoT is the IoT control plane, http://host:port: the iot client's
	// BaseEndpoint (AWS_ENDPOINT_URL_IOT). devcloud serves the job
	// operations and passes every other request to moto.
	IoT string `json:"iot"`
	// Status is the URL of the report `devcloud status` prints.
	Status string `json:"status"`
	// S3 is devcloud's S3 endpoint, http://host:port, a proxy to moto
	// that delivers the template's S3 → Lambda notifications: clients
	// that should trigger them (sward publish) use it for S3
	// (AWS_ENDPOINT_URL_S3), path-style.
	S3 string `json:"s3"`
	// DynamoDB is devcloud's DynamoDB endpoint, http://host:port, a proxy
	// that passes requests to moto one at a time (moto's transactions are
	// not isolated from concurrent requests): the Lambdas'
	// AWS_ENDPOINT_URL_DYNAMODB and the rules' DynamoDB actions use it.
	DynamoDB string `json:"dynamodb"`
}

// ReadInfo reads DIR/devcloud.json.
func ReadInfo(dataDir string) (*Info, error) {
	path := filepath.Join(dataDir, InfoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w on %s (no %s): start `devcloud up --data %s` first", ErrNotRunning, dataDir, InfoFile, dataDir)
	}
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &info, nil
}

// IoTConfig is an SDK configuration for the IoT control plane (jobs
// included); the other APIs answer through it too.
func (i *Info) IoTConfig() aws.Config {
	cfg := i.AWSConfig()
	if i.Endpoints.IoT != "" {
		cfg.BaseEndpoint = aws.String(i.Endpoints.IoT)
	}
	return cfg
}

// AWSConfig is an SDK configuration for the APIs moto serves.
func (i *Info) AWSConfig() aws.Config {
	return aws.Config{
		Region:       i.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(i.Credentials.AccessKeyID, i.Credentials.SecretAccessKey, ""),
		BaseEndpoint: aws.String(i.Endpoints.AWS),
	}
}
