package lambdas

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sward-iot/sward/infra/devcloud/template"
)

// Errors InvokeAsync returns, named as Lambda's Invoke API names them.
var (
	// ErrNotFound: no function of the template has that ARN or name.
	ErrNotFound = errors.New("ResourceNotFoundException: function not found")
	// ErrFailed: the function cannot run (no build, a build for another
	// architecture, no emulator); the message says what to build.
	ErrFailed = errors.New("ResourceConflictException: the function is in the Failed state")
	// ErrThrottled: the function's event queue is full.
	ErrThrottled = errors.New("TooManyRequestsException: rate exceeded")
)

// Defaults of Options.
var (
	// DefaultRetryDelays are Lambda's waits before the two retries of a
	// failed asynchronous event.
	DefaultRetryDelays = []time.Duration{time.Minute, 2 * time.Minute}
)

// MaxRetries is the most retries Lambda makes of a failed asynchronous
// event (its MaximumRetryAttempts ranges 0 to 2).
const MaxRetries = 2

// CheckRetryDelays returns an error unless delays are waits Lambda could
// make: at most MaxRetries of them, none negative.
func CheckRetryDelays(delays []time.Duration) error {
	if len(delays) > MaxRetries {
		return fmt.Errorf("%d retry delays: Lambda retries a failed asynchronous event at most %d times; give at most %d", len(delays), MaxRetries, MaxRetries)
	}
	for _, d := range delays {
		if d < 0 {
			return fmt.Errorf("retry delay %s is negative; give a wait of 0 or more", d)
		}
	}
	return nil
}

const (
	// defaultMaxInstances bounds each function's concurrency: devcloud
	// runs on a laptop or a two-core CI runner, where more processes only
	// queue for the CPU.
	defaultMaxInstances = 2
	// queueLength bounds each function's queued asynchronous events
	// (Lambda's queue is large; this one lives in memory).
	queueLength = 10000
)

// Options configure a Service.
type Options struct {
	// RIE is the aws-lambda-rie binary; empty: every function is Failed.
	RIE string
	// BuildDir holds <build>/bootstrap per function (dist/lambdas).
	BuildDir string
	// AssetDir is the template's folder: a function without a build there
	// runs <AssetDir>/<aws:asset:path>/bootstrap, the CDK's copy.
	AssetDir string
	// Env is added to every function's environment after the template's
	// variables: the AWS_* endpoint, region and credential settings.
	Env map[string]string
	// LogDir receives <function name>.log.
	LogDir string
	// MaxInstances per function (default 2).
	MaxInstances int
	// RetryDelays are the waits before each retry of a failed
	// asynchronous event (default DefaultRetryDelays: two retries); one
	// retry per entry, at most MaxRetries (CheckRetryDelays).
	RetryDelays []time.Duration
	// Logs, when set, also receives what each instance prints, for the
	// function's log group (its LoggingConfig, else /aws/lambda/<name>).
	Logs LogSink
	// Requests is the request log; Logger devcloud's own.
	Requests, Logger *slog.Logger
}

// Service runs the template's functions.
type Service struct {
	opts  Options
	log   *slog.Logger
	funcs []*function
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

// function is one template function and its instances.
type function struct {
	s         *Service
	def       template.Function
	bootstrap string
	// failed says why the function cannot run ("" when it can).
	failed string
	env    []string
	out    io.Writer
	queue  chan event
	// slots holds a token per running invocation (MaxInstances).
	slots chan struct{}
	mu    sync.Mutex
	idle  []*instance // most recently used last
	all   []*instance
}

type event struct {
	payload   []byte
	source    string
	requestID string
	attempt   int
	queued    time.Time
}

// New prepares the functions; none starts before its first invocation.
// A function that cannot run is kept, Failed, with the reason in the log.
func New(opts Options, fns []template.Function) (*Service, error) {
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = defaultMaxInstances
	}
	if opts.RetryDelays == nil {
		opts.RetryDelays = DefaultRetryDelays
	}
	if err := CheckRetryDelays(opts.RetryDelays); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Requests == nil {
		opts.Requests = slog.New(slog.DiscardHandler)
	}
	if opts.LogDir != "" {
		if err := os.MkdirAll(opts.LogDir, 0o700); err != nil {
			return nil, err
		}
	}
	s := &Service{opts: opts, log: opts.Logger.With("service", "lambdas")}
	s.ctx, s.stop = context.WithCancel(context.Background())
	for _, def := range fns {
		f := &function{s: s, def: def, queue: make(chan event, queueLength), slots: make(chan struct{}, opts.MaxInstances), out: io.Discard}
		f.bootstrap, f.failed = s.locate(def)
		if f.failed != "" {
			s.log.Warn("function cannot run: its invocations fail with ResourceConflictException", "function", def.Name, "reason", f.failed)
		}
		if opts.LogDir != "" {
			file, err := os.OpenFile(filepath.Join(opts.LogDir, def.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				s.Shutdown()
				return nil, err
			}
			f.out = &lockedWriter{w: file, c: file}
		}
		f.env = s.environment(def, f.bootstrap)
		s.funcs = append(s.funcs, f)
		s.wg.Add(1)
		go f.dispatch()
	}
	return s, nil
}

// locate finds the function's bootstrap and checks that this machine can
// run it; the second result says why not.
func (s *Service) locate(def template.Function) (string, string) {
	var candidates []string
	if def.Build != "" && s.opts.BuildDir != "" {
		candidates = append(candidates, filepath.Join(s.opts.BuildDir, def.Build, "bootstrap"))
	}
	if def.AssetPath != "" && s.opts.AssetDir != "" {
		candidates = append(candidates, filepath.Join(s.opts.AssetDir, def.AssetPath, "bootstrap"))
	}
	if len(candidates) == 0 {
		return "", "the template names no build (metadata " + template.BuildMetadata + ") or asset (aws:asset:path) for it"
	}
	var reasons []string
	for _, path := range candidates {
		reason := runnable(path)
		if reason == "" {
			if s.opts.RIE == "" {
				return path, "no aws-lambda-rie to run it under: `make devcloud` builds bin/aws-lambda-rie, or give --rie"
			}
			return path, ""
		}
		reasons = append(reasons, reason)
	}
	return "", fmt.Sprintf("%s: run `make lambdas GOARCH=%s` (or give --lambdas DIR with <name>/bootstrap)", strings.Join(reasons, "; "), runtime.GOARCH)
}

// elfMachine is the ELF machine of each GOARCH devcloud runs on.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// runnable says why path is not a Linux executable for this machine, or "".
func runnable(path string) string {
	f, err := elf.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return path + " is missing"
	}
	if err != nil {
		return path + " is not a Linux executable (a synth placeholder?)"
	}
	defer f.Close()
	if want, ok := elfMachine[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Sprintf("%s is built for %s, this machine runs %s", path, f.Machine, runtime.GOARCH)
	}
	return ""
}

// environment is what the function's process sees: the template's
// variables, then Lambda's reserved ones and the options' AWS_* settings.
func (s *Service) environment(def template.Function, bootstrap string) []string {
	env := map[string]string{}
	for k, v := range def.Environment {
		env[k] = v
	}
	for k, v := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        def.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(def.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(def.TimeoutSeconds),
		"LAMBDA_TASK_ROOT":                filepath.Dir(bootstrap),
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TZ":                              ":UTC",
	} {
		env[k] = v
	}
	for k, v := range s.opts.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func (s *Service) function(ref string) (*function, bool) {
	for _, f := range s.funcs {
		if f.def.Arn == ref || f.def.Name == ref {
			return f, true
		}
	}
	return nil, false
}

// InvokeAsync queues payload for the function named by ref (ARN or name),
// as an Event invocation, and returns its request id. source says who
// invoked it, for the request log. The error is one of ErrNotFound,
// ErrFailed and ErrThrottled, with the reason.
func (s *Service) InvokeAsync(ref string, payload []byte, source string) (string, error) {
	f, ok := s.function(ref)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if f.failed != "" {
		return "", fmt.Errorf("%w: %s: %s", ErrFailed, f.def.Name, f.failed)
	}
	ev := event{payload: payload, source: source, requestID: uuid.NewString(), attempt: 1, queued: time.Now()}
	select {
	case f.queue <- ev:
	default:
		return "", fmt.Errorf("%w: %s has %d events queued", ErrThrottled, f.def.Name, queueLength)
	}
	s.opts.Requests.Info("lambda event queued", "function", f.def.Name, "source", source, "requestId", ev.requestID)
	return ev.requestID, nil
}

// Invoke runs payload synchronously (RequestResponse) and returns the
// function's response; a function error is returned as an error.
func (s *Service) Invoke(ctx context.Context, ref string, payload []byte, source string) ([]byte, error) {
	f, ok := s.function(ref)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if f.failed != "" {
		return nil, fmt.Errorf("%w: %s: %s", ErrFailed, f.def.Name, f.failed)
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.slots }()
	return f.run(ctx, event{payload: payload, source: source, requestID: uuid.NewString(), attempt: 1})
}

// dispatch takes queued events in order and runs each on an instance,
// at most MaxInstances at a time; a failed event is queued again after
// its retry delay.
func (f *function) dispatch() {
	defer f.s.wg.Done()
	for {
		var ev event
		select {
		case <-f.s.ctx.Done():
			return
		case ev = <-f.queue:
		}
		select {
		case f.slots <- struct{}{}:
		case <-f.s.ctx.Done():
			return
		}
		f.s.wg.Add(1)
		go func() {
			defer f.s.wg.Done()
			_, err := f.run(f.s.ctx, ev)
			<-f.slots
			if !errors.Is(err, errFunction) || f.s.ctx.Err() != nil {
				return
			}
			if ev.attempt > len(f.s.opts.RetryDelays) {
				f.s.opts.Requests.Warn("lambda event dropped after its retries: no on-failure destination or dead-letter queue",
					"function", f.def.Name, "source", ev.source, "requestId", ev.requestID, "attempts", ev.attempt, "error", err)
				return
			}
			delay := f.s.opts.RetryDelays[ev.attempt-1]
			ev.attempt++
			f.s.opts.Requests.Info("lambda event to be retried", "function", f.def.Name, "requestId", ev.requestID, "attempt", ev.attempt, "after", delay)
			time.AfterFunc(delay, func() {
				ev.queued = time.Now() // a retry waits from when it is due
				select {
				case f.queue <- ev:
				default:
					f.s.opts.Requests.Warn("lambda retry dropped: queue full", "function", f.def.Name, "requestId", ev.requestID)
				}
			})
		}()
	}
}

// run invokes ev on an idle instance (a new one when none is idle); the
// caller holds a slot.
func (f *function) run(ctx context.Context, ev event) ([]byte, error) {
	if ev.queued.IsZero() {
		ev.queued = time.Now()
	}
	in, cold, err := f.acquire()
	if err != nil {
		f.s.opts.Requests.Error("lambda invoke", "function", f.def.Name, "source", ev.source, "requestId", ev.requestID,
			"attempt", ev.attempt, "result", "error", "error", err)
		return nil, fmt.Errorf("%w: %v", errFunction, err)
	}
	// Lambda ends an invocation at the function's timeout; the emulator
	// does too, this bounds the wait for it.
	ictx, cancel := context.WithTimeout(ctx, time.Duration(f.def.TimeoutSeconds)*time.Second+10*time.Second)
	invoked := time.Now()
	body, err := in.invoke(ictx, ev.payload)
	cancel()
	// started is when the event went to the instance; waitMs the time
	// from its queueing (or the synchronous call) to then, a cold start
	// included; durationMs the invocation itself.
	attrs := []any{"function", f.def.Name, "source", ev.source, "requestId", ev.requestID, "attempt", ev.attempt,
		"started", invoked.UTC().Format(time.RFC3339Nano), "waitMs", ms(invoked.Sub(ev.queued)),
		"durationMs", ms(time.Since(invoked)), "cold", cold}
	switch {
	case err == nil:
		f.release(in)
		f.s.opts.Requests.Info("lambda invoke", append(attrs, "result", "ok")...)
		return body, nil
	case errors.Is(err, errFunction) && in.alive():
		f.release(in)
	default: // the emulator is gone or unreachable: replace it
		f.discard(in)
		err = fmt.Errorf("%w: %v", errFunction, err)
	}
	f.s.opts.Requests.Warn("lambda invoke", append(attrs, "result", "error", "error", err)...)
	return body, err
}

func (f *function) acquire() (*instance, bool, error) {
	f.mu.Lock()
	for len(f.idle) > 0 {
		in := f.idle[len(f.idle)-1]
		f.idle = f.idle[:len(f.idle)-1]
		if in.alive() {
			f.mu.Unlock()
			return in, false, nil
		}
		f.removeLocked(in)
	}
	f.mu.Unlock()
	out := f.out
	var logs *shipper
	if f.s.opts.Logs != nil {
		logs = newShipper(f.s.opts.Logs, f.def.LogGroup, func(err error) {
			f.s.log.Warn("ship function logs", "function", f.def.Name, "logGroup", f.def.LogGroup, "error", err)
		})
		out = io.MultiWriter(f.out, logs)
	}
	in, err := startInstance(f.s.opts.RIE, f.bootstrap, f.env, out)
	if logs != nil {
		if err != nil {
			logs.close()
		} else {
			in.logs = logs
		}
	}
	if err != nil {
		return nil, true, err
	}
	f.mu.Lock()
	f.all = append(f.all, in)
	f.mu.Unlock()
	f.s.log.Info("function instance started", "function", f.def.Name)
	return in, true, nil
}

func (f *function) release(in *instance) {
	f.mu.Lock()
	f.idle = append(f.idle, in)
	f.mu.Unlock()
}

func (f *function) discard(in *instance) {
	in.stop()
	f.mu.Lock()
	f.removeLocked(in)
	f.mu.Unlock()
}

func (f *function) removeLocked(in *instance) {
	for i, x := range f.all {
		if x == in {
			f.all = append(f.all[:i], f.all[i+1:]...)
			return
		}
	}
}

// Shutdown drops queued events and stops every instance.
func (s *Service) Shutdown() {
	s.stop()
	for _, f := range s.funcs {
		f.mu.Lock()
		all := append([]*instance(nil), f.all...)
		f.mu.Unlock()
		for _, in := range all {
			in.stop()
		}
	}
	s.wg.Wait()
	for _, f := range s.funcs {
		if lw, ok := f.out.(*lockedWriter); ok {
			_ = lw.c.Close()
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// lockedWriter serialises the instances' writes to one log file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
	c  io.Closer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
