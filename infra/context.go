package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sward-iot/sward/shared/telemetry"
)

// Context keys the app reads (`cdk synth -c key=value` or the "context" block
// of cdk.json). infra/README.md documents each one.
const (
	contextThingGroupName   = "thingGroupName"
	contextLogRetentionDays = "logRetentionDays"
	contextThresholds       = "thresholds"
	contextLambdaDist       = "lambdaDist"
	// contextTelemetryConcurrency caps the telemetry Lambda (see
	// defaultTelemetryReservedConcurrency); 0 for no reservation.
	contextTelemetryConcurrency = "telemetryReservedConcurrency"
	// contextHistoryRetentionDays is how long device status history is
	// kept; 0 keeps it forever.
	contextHistoryRetentionDays = "historyRetentionDays"
	// contextIoTLogLevel is IoT Core's account-wide log level, or "none"
	// to leave IoT logging to whoever manages it in the account.
	contextIoTLogLevel = "iotLogLevel"
	// GitHub OIDC publishing (publisher.go): the repository and branch
	// whose release workflow may publish, and an existing OIDC provider.
	contextGitHubRepository   = "githubRepository"
	contextGitHubBranch       = "githubBranch"
	contextGitHubOIDCProvider = "githubOidcProviderArn"
)

// defaultGitHubBranch is the branch the release workflow runs on.
const defaultGitHubBranch = "main"

// GitHub's name rules: owner and repository of letters, digits, '-', '_'
// and '.'; a branch of the characters git allows in a ref name, without
// the wildcards a trust policy's StringEquals would take literally anyway.
var (
	githubRepositoryPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	githubBranchPattern     = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,255}$`)
	oidcProviderArnPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\.actions\.githubusercontent\.com$`)
)

// defaultIoTLogLevel logs IoT Core's errors (a refused connection, a
// failed rule, a rejected job update): what explains a device that does not
// show up, at a cost that stays small. INFO and DEBUG log every message.
const defaultIoTLogLevel = "ERROR"

// iotLogLevels are the levels AWS::IoT::Logging accepts, and "none".
var iotLogLevels = []string{"ERROR", "WARN", "INFO", "DEBUG", "DISABLED", "none"}

// defaultHistoryRetentionDays keeps a year of device status history: every
// rollout of a release cycle and its failures, to compare against; older
// rows only cost. The releases table and each device's current status are
// kept regardless.
const defaultHistoryRetentionDays = 365

// defaultThingGroupName is the thing group used when no thingGroupName
// context value is given.
const defaultThingGroupName = "sward-devices"

// defaultLogRetentionDays keeps Lambda and rule-error logs for a month: long
// enough to look back over a release cycle, short enough that chatty telemetry
// errors do not pile up cost forever.
const defaultLogRetentionDays = 30

// defaultLambdaDist is where `make lambdas` writes <name>/bootstrap, relative
// to the repository root that cdk.json runs the app from.
const defaultLambdaDist = "dist/lambdas"

// thingGroupNamePattern is the name pattern AWS IoT accepts for thing groups
// (CreateThingGroup: 1 to 128 characters of [a-zA-Z0-9:_-]).
var thingGroupNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// retentionDays maps the day counts CloudWatch Logs accepts
// (PutRetentionPolicy) to the CDK's names for them.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// appConfig is everything the app reads from its context values.
type appConfig struct {
	ThingGroupName   string
	LogRetentionDays int
	// Thresholds is the telemetry Lambda's SWARD_THRESHOLDS, compact JSON, or
	// "" when the thresholds context value is unset.
	Thresholds string
	LambdaDist string
	// TelemetryReservedConcurrency is the telemetry Lambda's reserved
	// concurrency; 0 for none.
	TelemetryReservedConcurrency int
	// HistoryRetentionDays is how long device status history rows are
	// kept; 0 for ever.
	HistoryRetentionDays int
	// IoTLogLevel is IoT Core's default log level; "none" adds no
	// AWS::IoT::Logging.
	IoTLogLevel string
	// GitHubRepository ("owner/repo") may publish through its release
	// workflow on GitHubBranch; "" makes no publisher role. The role
	// trusts GitHubOIDCProviderArn, or a provider the stack creates when "".
	GitHubRepository, GitHubBranch, GitHubOIDCProviderArn string
}

// readConfig reads every context value of scope, applying defaults, and
// rejects values AWS would refuse at deploy time so that the mistake shows up
// at synth with the key's name.
func readConfig(scope constructs.Construct) (appConfig, error) {
	cfg := appConfig{LambdaDist: defaultLambdaDist}
	var err error
	if cfg.TelemetryReservedConcurrency, err = telemetryConcurrency(scope); err != nil {
		return cfg, err
	}
	if cfg.HistoryRetentionDays, err = historyRetentionDays(scope); err != nil {
		return cfg, err
	}
	if cfg.IoTLogLevel, err = iotLogLevel(scope); err != nil {
		return cfg, err
	}
	if cfg.GitHubRepository, cfg.GitHubBranch, cfg.GitHubOIDCProviderArn, err = github(scope); err != nil {
		return cfg, err
	}
	if cfg.ThingGroupName, err = thingGroupName(scope); err != nil {
		return cfg, err
	}
	if cfg.LogRetentionDays, err = logRetentionDays(scope); err != nil {
		return cfg, err
	}
	if cfg.Thresholds, err = thresholds(scope); err != nil {
		return cfg, err
	}
	if v := scope.Node().TryGetContext(jsii.String(contextLambdaDist)); v != nil {
		s, ok := v.(string)
		if !ok || s == "" {
			return cfg, fmt.Errorf("context value %s must be a non-empty folder path, got %T %v", contextLambdaDist, v, v)
		}
		cfg.LambdaDist = s
	}
	return cfg, nil
}

// thingGroupName reads the thingGroupName context value of scope, falling
// back to defaultThingGroupName.
func thingGroupName(scope constructs.Construct) (string, error) {
	name := defaultThingGroupName
	if v := scope.Node().TryGetContext(jsii.String(contextThingGroupName)); v != nil {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("context value thingGroupName must be a string, got %T %v", v, v)
		}
		name = s
	}
	if !thingGroupNamePattern.MatchString(name) {
		return "", fmt.Errorf("context value thingGroupName %q is not a valid IoT thing group name: use 1 to 128 characters of letters, digits, ':', '_' or '-'", name)
	}
	return name, nil
}

// maxReservedConcurrency is Lambda's default regional concurrency limit: a
// reservation above it cannot be granted without a quota increase, and is
// more likely a typo.
const maxReservedConcurrency = 1000

// telemetryConcurrency reads the telemetryReservedConcurrency context value.
func telemetryConcurrency(scope constructs.Construct) (int, error) {
	return countFromContext(scope, contextTelemetryConcurrency, defaultTelemetryReservedConcurrency, maxReservedConcurrency,
		"is not a concurrency: use a whole number from 1 to %d, or 0 to reserve none")
}

// maxHistoryRetentionDays is ten years, the longest log retention too:
// more is likely a typo for a smaller number.
const maxHistoryRetentionDays = 3653

// historyRetentionDays reads the historyRetentionDays context value.
func historyRetentionDays(scope constructs.Construct) (int, error) {
	return countFromContext(scope, contextHistoryRetentionDays, defaultHistoryRetentionDays, maxHistoryRetentionDays,
		"is not a number of days: use 1 to %d, or 0 to keep device status history forever")
}

// countFromContext reads the context value key, a whole number from 0 to
// most (a number in cdk.json or a string from -c), def when unset. problem
// says what is wrong and the fix, with a %d for most.
func countFromContext(scope constructs.Construct, key string, def, most int, problem string) (int, error) {
	v := scope.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return def, nil
	}
	n, ok := wholeNumber(v)
	if !ok || n < 0 || n > most {
		return 0, fmt.Errorf("context value %s %v "+problem, key, v, most)
	}
	return n, nil
}

// iotLogLevel reads the iotLogLevel context value.
func iotLogLevel(scope constructs.Construct) (string, error) {
	v := scope.Node().TryGetContext(jsii.String(contextIoTLogLevel))
	if v == nil {
		return defaultIoTLogLevel, nil
	}
	if s, ok := v.(string); ok && slices.Contains(iotLogLevels, s) {
		return s, nil
	}
	return "", fmt.Errorf("context value %s %v is not an IoT log level: use one of %s (none leaves the account's IoT logging alone)", contextIoTLogLevel, v, strings.Join(iotLogLevels, ", "))
}

// github reads the GitHub publishing context values: the repository (unset:
// no publisher role), its branch (default main) and an existing OIDC
// provider's ARN (unset: the stack creates one).
func github(scope constructs.Construct) (repo, branch, provider string, err error) {
	str := func(key string) (string, bool, error) {
		v := scope.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return "", false, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", true, fmt.Errorf("context value %s must be a string, got %T %v", key, v, v)
		}
		return s, true, nil
	}
	var set bool
	if repo, set, err = str(contextGitHubRepository); err != nil {
		return
	}
	if set && !githubRepositoryPattern.MatchString(repo) {
		return "", "", "", fmt.Errorf("context value %s %q is not a GitHub repository: give owner/name, such as sward-iot/sward", contextGitHubRepository, repo)
	}
	if branch, set, err = str(contextGitHubBranch); err != nil {
		return
	}
	if !set {
		branch = defaultGitHubBranch
	} else if !githubBranchPattern.MatchString(branch) {
		return "", "", "", fmt.Errorf("context value %s %q is not a branch name: give one such as main, without wildcards or spaces", contextGitHubBranch, branch)
	}
	if provider, set, err = str(contextGitHubOIDCProvider); err != nil {
		return
	}
	if set && !oidcProviderArnPattern.MatchString(provider) {
		return "", "", "", fmt.Errorf("context value %s %q is not the ARN of GitHub's OIDC provider: give arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com (aws iam list-open-id-connect-providers), or leave it unset for the stack to create one", contextGitHubOIDCProvider, provider)
	}
	if repo == "" && set {
		return "", "", "", fmt.Errorf("context value %s is set but %s is not: name the repository whose release workflow may publish", contextGitHubOIDCProvider, contextGitHubRepository)
	}
	return repo, branch, provider, nil
}

// wholeNumber reads a context value that is a whole number: a JSON number
// from cdk.json or a string from -c.
func wholeNumber(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), float64(int(x)) == x
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}

// logRetentionDays reads the logRetentionDays context value, a number in
// cdk.json or a string from `-c logRetentionDays=90`.
func logRetentionDays(scope constructs.Construct) (int, error) {
	v := scope.Node().TryGetContext(jsii.String(contextLogRetentionDays))
	if v == nil {
		return defaultLogRetentionDays, nil
	}
	switch v.(type) {
	case float64, string:
	default:
		return 0, fmt.Errorf("context value logRetentionDays must be a number of days, got %T %v", v, v)
	}
	days, ok := wholeNumber(v)
	if !ok {
		days = -1
	}
	if _, ok := retentionDays[days]; !ok {
		return 0, fmt.Errorf("context value logRetentionDays %v is not a retention CloudWatch Logs accepts: use one of %s", v, allowedRetentionDays())
	}
	return days, nil
}

func allowedRetentionDays() string {
	days := make([]int, 0, len(retentionDays))
	for d := range retentionDays {
		days = append(days, d)
	}
	sort.Ints(days)
	s := make([]string, len(days))
	for i, d := range days {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, ", ")
}

// thresholds reads the optional thresholds context value: a JSON object in
// cdk.json, or its text from `-c thresholds='{…}'`. It returns compact JSON,
// or "" when the value is unset. It is checked against the telemetry
// Lambda's schema (shared/telemetry.ParseThresholds, what the Lambda runs at
// cold start), so that a mistake fails the synth, naming the metric and
// field, instead of every cold start after the deploy.
func thresholds(scope constructs.Construct) (string, error) {
	v := scope.Node().TryGetContext(jsii.String(contextThresholds))
	if v == nil {
		return "", nil
	}
	var obj map[string]any
	switch x := v.(type) {
	case string:
		if err := json.Unmarshal([]byte(x), &obj); err != nil || obj == nil {
			return "", fmt.Errorf("context value thresholds must be a JSON object: %q does not parse as one", x)
		}
	case map[string]any:
		obj = x
	default:
		return "", fmt.Errorf("context value thresholds must be a JSON object, got %T %v", v, v)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("context value thresholds: %w", err)
	}
	if _, err := telemetry.ParseThresholds(string(b)); err != nil {
		return "", fmt.Errorf("context value thresholds: %w (per metric, give min, max or zScore: {\"temperature\": {\"min\": -20, \"max\": 80}})", err)
	}
	return string(b), nil
}
