package devcloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud/iotcore"
	"github.com/sward-iot/sward/infra/devcloud/lambdas"
	"github.com/sward-iot/sward/infra/devcloud/rules"
	"github.com/sward-iot/sward/infra/devcloud/s3events"
	"github.com/sward-iot/sward/infra/devcloud/status"
)

// RequestLogFile is the readable per-request log in DIR: each rule fired,
// each action's result, each Lambda invocation with its duration.
const RequestLogFile = "requests.log"

// LambdaLogDir is the folder of DIR holding <function name>.log, what the
// emulator and each function print.
const LambdaLogDir = "lambda"

// rieName is the runtime interface emulator's binary (`make devcloud`
// builds it beside bin/devcloud).
const rieName = "aws-lambda-rie"

// ruleRuntime is the Lambdas and the rules engine of a running devcloud.
type ruleRuntime struct {
	rules    []*rules.Rule
	requests *os.File
	lambdas  *lambdas.Service
	s3       *s3events.Proxy
	stop     context.CancelFunc
}

// compileRules checks every rule of the template (at New, so that `up`
// stops before starting anything).
func (s *Server) compileRules() error {
	for _, r := range s.tmpl.Rules {
		if r.Disabled {
			continue
		}
		rule, err := rules.Compile(r)
		if err != nil {
			return fmt.Errorf("template %s: %w", s.opts.Template, err)
		}
		s.rt.rules = append(s.rt.rules, rule)
	}
	return nil
}

// findRIE is Options.RIE, else aws-lambda-rie on PATH, else beside the
// devcloud binary; "" when there is none (the functions are then Failed,
// saying so).
func findRIE(given string) string {
	if given != "" {
		return given
	}
	if p, err := exec.LookPath(rieName); err == nil {
		return p
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), rieName)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// startRules starts the template's Lambdas (lazily: each at its first
// invocation) and the rules engine on the endpoint's message flow.
func (s *Server) startRules() error {
	f, err := os.OpenFile(filepath.Join(s.opts.DataDir, RequestLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	s.rt.requests = f
	requests := slog.New(slog.NewTextHandler(f, nil))
	s3ln, err := net.Listen("tcp", s.opts.S3Listen)
	if err != nil {
		return fmt.Errorf("s3 endpoint listen %s: %w", s.opts.S3Listen, err)
	}
	s.info.Endpoints.S3 = "http://" + s3ln.Addr().String()
	cfg := s.info.AWSConfig()
	env := map[string]string{
		"AWS_REGION":                      s.opts.Region,
		"AWS_DEFAULT_REGION":              s.opts.Region,
		"AWS_ACCESS_KEY_ID":               s.info.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           s.info.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN":               "devcloud",
		"AWS_ENDPOINT_URL":                s.info.Endpoints.AWS,
		"AWS_ENDPOINT_URL_IOT_DATA_PLANE": s.info.Endpoints.IoTDataHTTP,
		"AWS_ENDPOINT_URL_S3":             s.info.Endpoints.S3,
		// moto's DynamoDB through the gate that isolates transactions
		// (dynamodb.go).
		"AWS_ENDPOINT_URL_DYNAMODB": s.info.Endpoints.DynamoDB,
		// The job operations are devcloud's own (controlplane.go); moto's
		// separate jobs would never reach a device.
		"AWS_ENDPOINT_URL_IOT": s.info.Endpoints.IoT,
	}
	s.rt.lambdas, err = lambdas.New(lambdas.Options{
		RIE:          findRIE(s.opts.RIE),
		BuildDir:     s.opts.LambdaDir,
		AssetDir:     filepath.Dir(s.opts.Template),
		Env:          env,
		LogDir:       filepath.Join(s.opts.DataDir, LambdaLogDir),
		MaxInstances: s.opts.LambdaInstances,
		RetryDelays:  s.opts.LambdaRetryDelays,
		Logs:         lambdaLogSink(cloudwatchlogs.NewFromConfig(cfg)),
		Requests:     requests,
		Logger:       s.opts.Logger,
	}, s.tmpl.Functions)
	if err != nil {
		s3ln.Close()
		return err
	}
	if s.rt.s3, err = s3events.New(s3events.Options{
		Listener: s3ln, AWS: cfg, Buckets: s.tmpl.Buckets, Lambda: s.rt.lambdas,
		AccountID: motoAccountID, Requests: requests, Logger: s.opts.Logger,
	}); err != nil {
		s3ln.Close()
		return err
	}
	if err := s.rt.s3.Start(); err != nil {
		return err
	}
	s3cfg := cfg.Copy()
	s3cfg.BaseEndpoint = aws.String(s.info.Endpoints.S3) // so that an S3 action notifies too
	ctx, cancel := context.WithCancel(context.Background())
	s.rt.stop = cancel
	engine := rules.NewEngine(ctx, s.rt.rules, &rules.Clients{
		Lambda:   s.rt.lambdas,
		Publish:  func(topic string, payload []byte, qos byte) error { return s.iot.Publish(topic, payload, qos, false) },
		S3:       s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		DynamoDB: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(s.info.Endpoints.DynamoDB) }),
		Logs:     cloudwatchlogs.NewFromConfig(cfg),
	}, requests)
	s.SetRuleCounter(ruleCounts{engine})
	for _, filter := range engine.Filters() {
		err := s.iot.Observe(filter, func(m iotcore.Message) {
			engine.Handle(rules.Message{Topic: m.Topic, Payload: m.Payload, ClientID: m.ClientID, Principal: m.Principal})
		})
		if err != nil {
			return fmt.Errorf("rules: observe %s: %w", filter, err)
		}
	}
	for _, r := range s.rt.rules {
		s.log.Info("rule running", "rule", r.Name, "from", r.From())
	}
	return nil
}

// stopRules ends the actions in flight and every Lambda instance.
func (s *Server) stopRules() {
	if s.rt.stop != nil {
		s.rt.stop()
	}
	if s.rt.s3 != nil {
		s.rt.s3.Shutdown()
	}
	if s.rt.lambdas != nil {
		s.rt.lambdas.Shutdown()
	}
	if s.rt.requests != nil {
		_ = s.rt.requests.Close()
	}
}

// ruleCounts reports the rules engine's counts to `devcloud status`.
type ruleCounts struct{ engine *rules.Engine }

func (c ruleCounts) RuleCounts() []status.Rule {
	counts := c.engine.Counts()
	out := make([]status.Rule, 0, len(counts))
	for _, r := range counts {
		out = append(out, status.Rule{Name: r.Name, Fired: r.Fired, Failures: r.Failures, LastError: r.LastError})
	}
	return out
}
