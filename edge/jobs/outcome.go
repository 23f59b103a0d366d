package jobs

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/sward-iot/sward/edge/deployment"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/deploymentstatus"
)

// maxDetail is IoT Jobs' limit on a statusDetails value.
const maxDetail = deploymentstatus.MaxReasonLength

// Greengrass's detailed-deployment-status values.
const (
	detailSucceeded          = "SUCCESSFUL"
	detailNoStateChange      = "FAILED_NO_STATE_CHANGE"
	detailRollbackNotAsked   = "FAILED_ROLLBACK_NOT_REQUESTED"
	detailRollbackComplete   = "FAILED_ROLLBACK_COMPLETE"
	detailUnableToRollback   = "FAILED_UNABLE_TO_ROLLBACK"
	detailRejected           = "REJECTED"
	errorTypeRequest         = "REQUEST_ERROR"
	errorTypeDependency      = "DEPENDENCY_ERROR"
	errorTypeComponent       = "COMPONENT_ERROR"
	errorStackFailure        = "DEPLOYMENT_FAILURE"
	errorStackRejected       = "DEPLOYMENT_REJECTED"
	errorStackDocument       = "DEPLOYMENT_DOCUMENT_NOT_VALID"
	errorStackRequirements   = "COMPONENT_VERSION_REQUIREMENTS_NOT_MET"
	errorStackComponentError = "COMPONENT_UPDATE_ERROR"
)

// rejected is the outcome of a job the device did not apply: its document
// or recipes could not be read. Nothing changed on the device.
func rejected(err error) *outcome {
	reason := err.Error()
	return &outcome{Status: deploymentstatus.Rejected, Reason: truncate(reason), Details: details(detailRejected, reason,
		[]string{errorTypeRequest}, []string{errorStackRejected, errorStackDocument})}
}

// outcomeOf is the outcome of a deployment that ended in the engine.
func outcomeOf(st ddoc.Status) *outcome {
	o := &outcome{Status: deploymentstatus.FromDeployment(st, st.EndedAt).Status, Detail: st.State, Reason: truncate(st.Reason)}
	types, stack := []string{errorTypeComponent}, []string{errorStackFailure, errorStackComponentError}
	if strings.Contains(st.Reason, deployment.ErrConflict.Error()) {
		types, stack = []string{errorTypeDependency}, []string{errorStackFailure, errorStackRequirements}
	}
	switch {
	case st.State == ddoc.Succeeded:
		o.Details = map[string]string{"detailed-deployment-status": detailSucceeded}
	case o.Status == deploymentstatus.Rejected:
		o.Details = details(detailRejected, st.Reason, []string{errorTypeRequest}, []string{errorStackRejected})
	case st.State == ddoc.RolledBack:
		o.Details = details(detailRollbackComplete, st.Reason, types, stack)
	case len(st.Components) == 0:
		o.Details = details(detailNoStateChange, st.Reason, types, stack)
	case strings.Contains(st.Reason, "the rollback failed too"):
		o.Details = details(detailUnableToRollback, st.Reason, types, stack)
	default:
		o.Details = details(detailRollbackNotAsked, st.Reason, types, stack)
	}
	return o
}

// details is a failure's statusDetails with Greengrass's keys.
func details(status, cause string, types, stack []string) map[string]string {
	t, _ := json.Marshal(types)
	s, _ := json.Marshal(stack)
	d := map[string]string{"detailed-deployment-status": status, "deployment-error-types": string(t), "deployment-error-stack": string(s)}
	if cause = truncate(cause); cause != "" {
		d["deployment-failure-cause"] = cause
	}
	return d
}

// truncate keeps s within a statusDetails value's 1024 characters.
func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxDetail {
		return s
	}
	return string([]rune(s)[:maxDetail-1]) + "…"
}
