package helm

import (
	"context"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/retry"
	"net/url"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stepper-cd/stepper/internal/exit"
)

// minSecretLen is the shortest value the redactor hides. Shorter ones
// ("true", "info", "80") are rarely secret, and hiding them would garble
// every message that happens to contain them.
const minSecretLen = 6

// redactor hides the values a user gave (not the chart's defaults, which
// are public) in text meant for messages: Kubernetes and Helm quote
// offending values in their errors ("Invalid value: …", schema errors,
// --set syntax errors), and values hold passwords and keys.
type redactor struct{ secrets []string }

const redacted = "[redacted]"

// newRedactor collects the string leaves of vals (and each long line of a
// multi-line one, such as a PEM key), longest first.
func newRedactor(vals map[string]any, extra ...string) redactor {
	var r redactor
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) >= minSecretLen {
			r.secrets = append(r.secrets, s)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			add(v)
			if strings.Contains(v, "\n") {
				for line := range strings.SplitSeq(v, "\n") {
					add(line)
				}
			}
		case nil, bool:
		default:
			add(fmt.Sprint(v))
		}
	}
	walk(vals)
	for _, s := range extra {
		walk(s)
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	r.secrets = slices.Compact(r.secrets)
	return r
}

// text returns s with every value hidden.
func (r redactor) text(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// err returns err with every value hidden from its message. The result
// keeps err's exit class and answers errors.Is for context cancellation,
// but does not unwrap to err, whose message still holds the values.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.text(msg)
	if clean == msg {
		return err
	}
	return exit.Mark(exit.ClassOf(err), &redactedError{msg: clean, cause: err})
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

// Is lets errors.Is see the cancellation sentinels through the redaction.
func (e *redactedError) Is(target error) bool {
	return (target == context.Canceled || target == context.DeadlineExceeded) && errors.Is(e.cause, target)
}

// classifyKube marks an error from talking to the cluster. def is the
// class of errors nothing more specific is known about.
func classifyKube(op string, err error, def ...exit.Class) error {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case unreachable(err):
		return exit.Infraf("%s: the Kubernetes API server is unreachable; check the kubeconfig's server address, "+
			"that the cluster is running and that this runner can reach it: %w", op, err)
	case isApplyConflict(err):
		return exit.Failedf("%s: server-side apply conflict: another field manager owns fields this release sets; "+
			"stepper applies as field manager %q and does not force ownership. Remove the other manager's fields, "+
			"make the values agree, or deploy with force-conflicts once on purpose: %w", op, FieldManager, err)
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return exit.Usagef("%s: the cluster refused the credentials or their permissions; check the kubeconfig "+
			"and the RBAC rights of its user in the namespace: %w", op, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return exit.Failedf("%s: the API server rejected an object of the chart: %w", op, err)
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsInternalError(err), apierrors.IsTooManyRequests(err):
		return exit.Infraf("%s: %w", op, err)
	case errors.As(err, &status) && status.Status().Code >= 500:
		return exit.Infraf("%s: %w", op, err)
	}
	class := exit.Failed
	if len(def) > 0 {
		class = def[0]
	}
	return exit.Mark(class, fmt.Errorf("%s: %w", op, err))
}

func unreachable(err error) bool {
	if retry.Unreachable(err) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) && (ue.Timeout() || strings.Contains(ue.Err.Error(), "connection reset")) {
		return true
	}
	return strings.Contains(err.Error(), "cluster unreachable")
}

// isApplyConflict tells a server-side apply conflict ("Apply failed with 1
// conflict: conflict with …") from other 409s.
func isApplyConflict(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Reason != metav1.StatusReasonConflict {
		return strings.Contains(err.Error(), "Apply failed with")
	}
	return strings.Contains(status.Status().Message, "Apply failed with") ||
		strings.Contains(status.Status().Message, "conflict with")
}
