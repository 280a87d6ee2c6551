package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/stepper-cd/stepper/internal/exit"
)

// A release revision left pending (pending-install, pending-upgrade,
// pending-rollback) is a lock: Helm refuses every later operation with
// "another operation is in progress". A run that was killed (SIGKILL, a
// lost runner) leaves such a lock behind. Every revision stepper writes
// records its owner (a stable identity: the CI project and job, the same
// for every retry of that job), the URL of the run, and the deadline by
// which the operation gives up at the latest. Before every Upgrade and
// Rollback, stepper applies this rule to the newest revision:
//
//  1. Not pending: nothing to do.
//  2. Pending and written by the same owner (LabelOwnerID, or the owner id
//     in the description of a stepper rollback): the run that wrote it is
//     gone, since the same owner is running now (a retry of the job). The
//     revision is marked failed and the operation proceeds at once. This
//     assumes one job does not run twice at the same time against one
//     release (GitLab resource_group, Jenkins disableConcurrentBuilds).
//  3. Pending, written by another owner or by another tool, and before
//     its holder's deadline (LabelDeadline; for a revision without one,
//     its start plus lockSpan of the longer of this operation's timeout
//     and DefaultReleaseTimeout): another deploy may still be running.
//     The operation is refused with an exit.Infra error that names the
//     owner and says when the lock turns stale.
//  4. Pending and past that deadline: any live operation would have
//     timed out and marked it failed by now, so the lock is stale. It is
//     marked failed and the operation proceeds.
//
// The deadline is the holder's, not the current run's: a run with a 30 s
// timeout must not take a live 10-minute upgrade for a stale one.
//
// Marking failed, not rolling back, keeps recovery cheap and predictable:
// the next upgrade starts from the last deployed revision, exactly as
// after any failed upgrade. Objects the interrupted run created and the
// new revision does not render are left in place, as Helm does after a
// failed upgrade.

// lockSpan is how long an operation with timeout can hold a release's
// lock: Helm waits up to timeout for the hooks before, the objects, and
// the hooks after, and applying takes time of its own.
func lockSpan(timeout time.Duration) time.Duration { return 3*timeout + time.Minute }

// holder is who takes a release's lock, and for how long.
type holder struct {
	owner, url string
	timeout    time.Duration
}

// deadline is when an operation of h started at now gives up at the
// latest.
func (h holder) deadline(now time.Time) time.Time { return now.Add(lockSpan(h.timeout)) }

func (o UpgradeOptions) holder() holder {
	return holder{owner: o.Owner, url: o.OwnerURL, timeout: o.Timeout}
}

// labels are the release labels that record h on a revision started now.
func (h holder) labels(now time.Time) map[string]string {
	l := ownerLabels(h.owner)
	l[LabelDeadline] = strconv.FormatInt(h.deadline(now).Unix(), 10)
	if v := labelValue(h.url); v != "" {
		l[LabelOwnerURL] = v
	}
	return l
}

// rollbackDescription carries h into a rollback's revision, since Helm
// copies a rollback's labels from the revision it restores.
func (h holder) rollbackDescription(to int, now time.Time) string {
	return truncate(fmt.Sprintf("Rollback to %d by stepper owner-id %s (%s) until %d %s", to, ownerID(h.owner),
		labelValue(h.owner), h.deadline(now).Unix(), labelValue(h.url)), 256)
}

// deadlinePattern finds the deadline in a stepper rollback's description.
var deadlinePattern = regexp.MustCompile(`owner-id [0-9a-f]{16} \([^)]*\) until ([0-9]+)`)

// deadlineOf is the deadline r's holder recorded; false when it recorded
// none (an older stepper, the helm CLI).
func deadlineOf(r *release.Release) (time.Time, bool) {
	raw := r.Labels[LabelDeadline]
	if r.Info != nil && r.Info.Status == rcommon.StatusPendingRollback {
		// The labels are those of the restored revision.
		raw = ""
		if m := deadlinePattern.FindStringSubmatch(r.Info.Description); m != nil {
			raw = m[1]
		}
	}
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// ownerIDPattern finds the owner id stepper writes into rollback
// descriptions, since Helm copies a rollback's labels from the revision it
// restores.
var ownerIDPattern = regexp.MustCompile(`owner-id ([0-9a-f]{16})`)

// defaultOwner names the person or machine running stepper when no Owner
// is given: user@host.
func defaultOwner() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// ownerID is the short, exact identity of an owner.
func ownerID(owner string) string {
	sum := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(sum[:8])
}

// ownerLabels are the release labels that record owner.
func ownerLabels(owner string) map[string]string {
	return map[string]string{LabelOwner: labelValue(owner), LabelOwnerID: ownerID(owner)}
}

// labelValue makes s a valid label value: characters outside
// [A-Za-z0-9._-] become '_', and a long value keeps its end (a job URL
// ends with the job's number), at most 63 characters, starting and ending
// alphanumeric.
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := string(b)
	if len(out) > 63 {
		out = out[len(out)-63:]
	}
	return strings.Trim(out, "._-")
}

// ownedBy tells whether r was written by the owner with id.
func ownedBy(r *release.Release, id string) bool {
	if r.Info != nil && r.Info.Status == rcommon.StatusPendingRollback {
		// The labels are those of the restored revision, whoever wrote it.
		m := ownerIDPattern.FindStringSubmatch(r.Info.Description)
		return m != nil && m[1] == id
	}
	return r.Labels[LabelOwnerID] == id
}

// ownerOf names who wrote r, for messages.
func ownerOf(r *release.Release) string {
	if o := r.Labels[LabelOwner]; o != "" {
		return o
	}
	if r.Info != nil {
		if m := ownerIDPattern.FindStringSubmatch(r.Info.Description); m != nil {
			return "stepper owner id " + m[1]
		}
	}
	return "another tool (no stepper owner label; e.g. the helm CLI)"
}

// checkPending applies the rule above to last, the newest revision: it
// returns "" when last is not pending, the refusal when it belongs to a
// live operation, and otherwise what recovering it means. timeout is the
// current operation's; it only bounds a holder that recorded no deadline.
func checkPending(last *release.Release, owner string, timeout time.Duration, now time.Time) (string, error) {
	if last == nil || last.Info == nil || !last.Info.Status.IsPending() {
		return "", nil
	}
	ours := ownedBy(last, ownerID(owner))
	started := last.Info.LastDeployed
	deadline, recorded := deadlineOf(last)
	if !recorded {
		deadline = started.Add(lockSpan(max(timeout, DefaultReleaseTimeout)))
	}
	run := ""
	if u := last.Labels[LabelOwnerURL]; u != "" {
		run = " (run " + u + ")"
	}
	if !ours && now.Before(deadline) {
		return "", exit.Infraf("release %s/%s: revision %d is %s since %s (%s ago), started by %s%s; "+
			"another deploy may still be running. Wait for it to finish; stepper treats the lock as stale "+
			"and recovers it from %s on",
			last.Namespace, last.Name, last.Version, last.Info.Status, started.UTC().Format(time.RFC3339),
			now.Sub(started).Round(time.Second), ownerOf(last), run, deadline.UTC().Format(time.RFC3339))
	}
	why := "stale lock of this owner" + run + ", left by an earlier try of this job"
	if !ours {
		why = fmt.Sprintf("stale lock of %s%s, past its deadline %s", ownerOf(last), run, deadline.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("revision %d was %s (%s); marked failed", last.Version, last.Info.Status, why), nil
}

// recoverPending applies the rule above to the newest revision in hist
// and marks it failed when it is a stale lock. It returns what it
// recovered, "" if nothing. timeout is the operation's.
func (s *session) recoverPending(hist []*release.Release, owner string, timeout time.Duration, now time.Time) (string, error) {
	if len(hist) == 0 {
		return "", nil
	}
	last := hist[len(hist)-1]
	msg, err := checkPending(last, owner, timeout, now)
	if msg == "" || err != nil {
		return "", err
	}
	last.Info.Status = rcommon.StatusFailed
	last.Info.Description = truncate("stepper: recovered an interrupted operation: "+msg, 256)
	if err := s.cfg.Releases.Update(last); err != nil {
		return "", classifyKube(fmt.Sprintf("release %s/%s: recover pending revision %d", last.Namespace, last.Name, last.Version), err, exit.Infra)
	}
	return msg, nil
}
