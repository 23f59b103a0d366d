package ipc

import "encoding/json"

// Operation names: the Greengrass IPC operation names.
const (
	OpGetConfiguration                        = "GetConfiguration"
	OpUpdateConfiguration                     = "UpdateConfiguration"
	OpSubscribeToConfigurationUpdate          = "SubscribeToConfigurationUpdate"
	OpSubscribeToValidateConfigurationUpdates = "SubscribeToValidateConfigurationUpdates"
	OpSendConfigurationValidityReport         = "SendConfigurationValidityReport"
	OpUpdateState                             = "UpdateState"
	OpSubscribeToComponentUpdates             = "SubscribeToComponentUpdates"
	OpDeferComponentUpdate                    = "DeferComponentUpdate"
	OpRestartComponent                        = "RestartComponent"
	OpStopComponent                           = "StopComponent"
	OpPauseComponent                          = "PauseComponent"
	OpResumeComponent                         = "ResumeComponent"
	OpGetComponentDetails                     = "GetComponentDetails"
	OpListComponents                          = "ListComponents"
	OpCreateLocalDeployment                   = "CreateLocalDeployment"
	OpListLocalDeployments                    = "ListLocalDeployments"
	OpGetLocalDeploymentStatus                = "GetLocalDeploymentStatus"
	OpPutComponentMetric                      = "PutComponentMetric"
	OpPublishToTopic                          = "PublishToTopic"
	OpSubscribeToTopic                        = "SubscribeToTopic"
	OpPublishToIoTCore                        = "PublishToIoTCore"
	OpSubscribeToIoTCore                      = "SubscribeToIoTCore"
	OpGetThingShadow                          = "GetThingShadow"
	OpUpdateThingShadow                       = "UpdateThingShadow"
	OpDeleteThingShadow                       = "DeleteThingShadow"
	OpListNamedShadowsForThing                = "ListNamedShadowsForThing"
)

// Event kinds: the last token of a subscription's event subject.
const (
	EventConfigurationUpdate          = "ConfigurationUpdate"
	EventValidateConfigurationUpdates = "ValidateConfigurationUpdates"
	EventComponentUpdates             = "ComponentUpdates"
)

// Error codes beyond the common ones in errors.go.
const (
	// CodeFailedUpdateConditionCheck: UpdateConfiguration lost to a newer
	// timestamp on the same key.
	CodeFailedUpdateConditionCheck = "FailedUpdateConditionCheckError"
	// CodeComponentNotFound: the named component is not deployed.
	CodeComponentNotFound = "ComponentNotFoundError"
	// CodeThrottled: a rate limit (the shadow service's per thing) refused
	// the request; retry later.
	CodeThrottled = "ThrottlingError"
)

// GetConfigurationRequest reads a component's configuration under keyPath
// (empty: all of it). ComponentName defaults to the caller.
type GetConfigurationRequest struct {
	ComponentName string   `json:"componentName,omitempty"`
	KeyPath       []string `json:"keyPath,omitempty"`
}

// GetConfigurationResponse carries the value: an object for an inner node,
// {"<last key>": value} for a leaf, as Greengrass answers.
type GetConfigurationResponse struct {
	ComponentName string         `json:"componentName"`
	Value         map[string]any `json:"value"`
}

// UpdateConfigurationRequest merges ValueToMerge at KeyPath of the caller's
// configuration. Timestamp is epoch milliseconds; an update older than the
// last update of the same key fails with CodeFailedUpdateConditionCheck.
type UpdateConfigurationRequest struct {
	KeyPath      []string        `json:"keyPath,omitempty"`
	ValueToMerge json.RawMessage `json:"valueToMerge"`
	Timestamp    int64           `json:"timestamp"`
}

// SubscribeToConfigurationUpdateRequest asks for ConfigurationUpdate events
// on changes under KeyPath of ComponentName (default the caller).
type SubscribeToConfigurationUpdateRequest struct {
	ComponentName string   `json:"componentName,omitempty"`
	KeyPath       []string `json:"keyPath,omitempty"`
}

// ConfigurationUpdateEvents is the body of a ConfigurationUpdate event.
type ConfigurationUpdateEvents struct {
	ConfigurationUpdateEvent *ConfigurationUpdateEvent `json:"configurationUpdateEvent"`
}

// ConfigurationUpdateEvent names the component and the key path that changed.
type ConfigurationUpdateEvent struct {
	ComponentName string   `json:"componentName"`
	KeyPath       []string `json:"keyPath"`
}

// ValidateConfigurationUpdateEvents is the body of a
// ValidateConfigurationUpdates event: a deployment's proposed configuration.
type ValidateConfigurationUpdateEvents struct {
	ValidateConfigurationUpdateEvent *ValidateConfigurationUpdateEvent `json:"validateConfigurationUpdateEvent"`
}

// ValidateConfigurationUpdateEvent carries the configuration to validate.
type ValidateConfigurationUpdateEvent struct {
	DeploymentID  string         `json:"deploymentId"`
	Configuration map[string]any `json:"configuration"`
}

// Validity report statuses.
const (
	ValidityAccepted = "ACCEPTED"
	ValidityRejected = "REJECTED"
)

// SendConfigurationValidityReportRequest answers a validation event.
type SendConfigurationValidityReportRequest struct {
	ConfigurationValidityReport ConfigurationValidityReport `json:"configurationValidityReport"`
}

// ConfigurationValidityReport is ACCEPTED or REJECTED with a message.
type ConfigurationValidityReport struct {
	Status       string `json:"status"`
	DeploymentID string `json:"deploymentId"`
	Message      string `json:"message,omitempty"`
}

// UpdateStateRequest reports the caller's state: RUNNING or ERRORED.
type UpdateStateRequest struct {
	State string `json:"state"`
}

// ComponentUpdatePolicyEvents is the body of a ComponentUpdates event: one
// of PreUpdateEvent (a deployment is about to change components) and
// PostUpdateEvent (it has).
type ComponentUpdatePolicyEvents struct {
	PreUpdateEvent  *PreComponentUpdateEvent  `json:"preUpdateEvent,omitempty"`
	PostUpdateEvent *PostComponentUpdateEvent `json:"postUpdateEvent,omitempty"`
}

// PreComponentUpdateEvent announces a deployment; answer with
// DeferComponentUpdate.
type PreComponentUpdateEvent struct {
	DeploymentID    string `json:"deploymentId"`
	IsGgcRestarting bool   `json:"isGgcRestarting"`
}

// PostComponentUpdateEvent reports a deployment that changed components.
type PostComponentUpdateEvent struct {
	DeploymentID string `json:"deploymentId"`
}

// DeferComponentUpdateRequest answers a PreUpdateEvent: RecheckAfterMs 0
// means "go ahead", more defers the deployment by that long.
type DeferComponentUpdateRequest struct {
	DeploymentID   string `json:"deploymentId"`
	Message        string `json:"message,omitempty"`
	RecheckAfterMs int64  `json:"recheckAfterMs"`
}

// ComponentRequest names a component (RestartComponent, StopComponent,
// GetComponentDetails, PauseComponent, ResumeComponent).
type ComponentRequest struct {
	ComponentName string `json:"componentName"`
}

// Request statuses of RestartComponent and StopComponent.
const (
	RequestSucceeded = "SUCCEEDED"
	RequestFailed    = "FAILED"
)

// RestartComponentResponse is RestartComponent's answer.
type RestartComponentResponse struct {
	RestartStatus string `json:"restartStatus"`
	Message       string `json:"message,omitempty"`
}

// StopComponentResponse is StopComponent's answer.
type StopComponentResponse struct {
	StopStatus string `json:"stopStatus"`
	Message    string `json:"message,omitempty"`
}

// ComponentDetails describes one component.
type ComponentDetails struct {
	ComponentName string         `json:"componentName"`
	Version       string         `json:"version"`
	State         string         `json:"state"`
	Configuration map[string]any `json:"configuration,omitempty"`
}

// GetComponentDetailsResponse is GetComponentDetails's answer.
type GetComponentDetailsResponse struct {
	ComponentDetails ComponentDetails `json:"componentDetails"`
}

// ListComponentsResponse is ListComponents's answer.
type ListComponentsResponse struct {
	Components []ComponentDetails `json:"components"`
}

// CreateLocalDeploymentRequest is greengrass-cli's local deployment.
type CreateLocalDeploymentRequest struct {
	GroupName                  string                     `json:"groupName,omitempty"`
	RootComponentVersionsToAdd map[string]string          `json:"rootComponentVersionsToAdd,omitempty"`
	RootComponentsToRemove     []string                   `json:"rootComponentsToRemove,omitempty"`
	ComponentToConfiguration   map[string]json.RawMessage `json:"componentToConfiguration,omitempty"`
	RecipeDirectoryPath        string                     `json:"recipeDirectoryPath,omitempty"`
	ArtifactsDirectoryPath     string                     `json:"artifactsDirectoryPath,omitempty"`
	FailureHandlingPolicy      string                     `json:"failureHandlingPolicy,omitempty"`
}

// CreateLocalDeploymentResponse carries the new deployment's id.
type CreateLocalDeploymentResponse struct {
	DeploymentID string `json:"deploymentId"`
}

// LocalDeployment is one deployment's status.
type LocalDeployment struct {
	DeploymentID string `json:"deploymentId"`
	Status       string `json:"status"`
	CreatedOn    string `json:"createdOn,omitempty"`
	Reason       string `json:"deploymentStatusDetails,omitempty"`
}

// ListLocalDeploymentsResponse is ListLocalDeployments's answer.
type ListLocalDeploymentsResponse struct {
	LocalDeployments []LocalDeployment `json:"localDeployments"`
}

// GetLocalDeploymentStatusRequest names a deployment.
type GetLocalDeploymentStatusRequest struct {
	DeploymentID string `json:"deploymentId"`
}

// GetLocalDeploymentStatusResponse is GetLocalDeploymentStatus's answer.
type GetLocalDeploymentStatusResponse struct {
	Deployment LocalDeployment `json:"deployment"`
}

// PutComponentMetricRequest publishes metrics of the caller.
type PutComponentMetricRequest struct {
	Metrics []Metric `json:"metrics"`
}

// Metric is one named value with a Greengrass unit (COUNT, SECONDS, ...).
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// MetricUnits are the units PutComponentMetric accepts.
var MetricUnits = []string{"BYTES", "BYTES_PER_SECOND", "COUNT", "COUNT_PER_SECOND",
	"MEGABYTES", "SECONDS", "MILLISECONDS", "PERCENT"}

// ShadowRequest names a shadow (GetThingShadow, DeleteThingShadow);
// ShadowName "" is the classic shadow.
type ShadowRequest struct {
	ThingName  string `json:"thingName"`
	ShadowName string `json:"shadowName,omitempty"`
}

// UpdateThingShadowRequest carries the AWS shadow update document.
type UpdateThingShadowRequest struct {
	ThingName  string          `json:"thingName"`
	ShadowName string          `json:"shadowName,omitempty"`
	Payload    json.RawMessage `json:"payload"`
}

// ShadowResponse carries the AWS shadow response document.
type ShadowResponse struct {
	Payload json.RawMessage `json:"payload"`
}

// ListNamedShadowsForThingRequest pages through a thing's named shadows.
type ListNamedShadowsForThingRequest struct {
	ThingName string `json:"thingName"`
	NextToken string `json:"nextToken,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
}

// ListNamedShadowsForThingResponse is one page.
type ListNamedShadowsForThingResponse struct {
	Results   []string `json:"results"`
	Timestamp int64    `json:"timestamp"`
	NextToken string   `json:"nextToken,omitempty"`
}
