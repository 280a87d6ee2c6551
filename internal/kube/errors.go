package kube

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// RolloutError says why a rollout did not complete: a pod of a workload
// failed, an object is Failed by kstatus, or the wait timed out.
type RolloutError struct {
	// Object is the object that did not become ready, "Deployment/ns/name".
	Object string
	// Pods are the failing pods (or, after a timeout, the unready ones),
	// at most three.
	Pods []PodDiagnosis
	// Reason is one line of human text.
	Reason string
	// TimedOut is set when the wait ran out of time rather than failing fast.
	TimedOut bool
}

// PodDiagnosis is what is known about one failing pod.
type PodDiagnosis struct {
	Pod  string
	Node string
	// Container is the failing container, if one is to blame.
	Container string
	// Reason is a container's waiting reason (CrashLoopBackOff,
	// ImagePullBackOff, ErrImagePull, CreateContainerConfigError,
	// InvalidImageName) or one of Failed, Unschedulable, ProbeFailure,
	// NotReady.
	Reason   string
	Message  string
	Restarts int
	// Events are the pod's last events, oldest first, as
	// "Warning BackOff: Back-off restarting failed container".
	Events []string
}

func (e *RolloutError) Error() string {
	what := "rollout failed"
	if e.TimedOut {
		what = "rollout timed out"
	}
	if e.Object == "" {
		return what + ": " + e.Reason
	}
	return fmt.Sprintf("%s: %s: %s", e.Object, what, e.Reason)
}

// Diagnosis is a multi-line account for a person: what failed, each pod
// with its node, container, restarts and last events.
func (e *RolloutError) Diagnosis() string {
	var b strings.Builder
	b.WriteString(e.Error())
	b.WriteString("\n")
	for _, p := range e.Pods {
		fmt.Fprintf(&b, "  pod %s", p.Pod)
		if p.Node != "" {
			fmt.Fprintf(&b, " on node %s", p.Node)
		}
		fmt.Fprintf(&b, ": %s", p.Reason)
		if p.Container != "" {
			fmt.Fprintf(&b, " (container %s)", p.Container)
		}
		if p.Restarts > 0 {
			fmt.Fprintf(&b, ", %d restarts", p.Restarts)
		}
		b.WriteString("\n")
		if p.Message != "" {
			fmt.Fprintf(&b, "    %s\n", p.Message)
		}
		if len(p.Events) > 0 {
			b.WriteString("    events:\n")
			for _, ev := range p.Events {
				fmt.Fprintf(&b, "      %s\n", ev)
			}
		}
	}
	if !e.TimedOut && len(e.Pods) > 0 {
		b.WriteString("  the wait stopped early; `kubectl describe pod` and `kubectl logs --previous` tell more\n")
	}
	return b.String()
}

// logProgress logs, at debug level, each object whose progress changed
// since the previous round.
func logProgress(log *zerolog.Logger, before, now []progress) {
	if log.GetLevel() > zerolog.DebugLevel {
		return
	}
	was := make(map[string]string, len(before))
	for _, p := range before {
		was[p.target.id] = p.message
	}
	for _, p := range now {
		if was[p.target.id] != p.message {
			log.Debug().Str("object", p.target.id).Str("status", p.message).Msg("waiting")
		}
	}
}
