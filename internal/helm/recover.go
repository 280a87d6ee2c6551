package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"strings"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/stepper-cd/stepper/internal/exit"
)

// A release revision left pending (pending-install, pending-upgrade,
// pending-rollback) is a lock: Helm refuses every later operation with
// "another operation is in progress". A run that was killed (SIGKILL, a
// lost runner) leaves such a lock behind. Before every Upgrade and
// Rollback, stepper applies this rule to the newest revision:
//
//  1. Not pending: nothing to do.
//  2. Pending and written by the same owner (LabelOwnerID, or the owner id
//     in the description of a stepper rollback): the run that wrote it is
//     gone, since the same owner is running now. The revision is marked
//     failed and the operation proceeds.
//  3. Pending, written by another owner or by another tool, and younger
//     than the operation's timeout: another deploy may still be running.
//     The operation is refused with an exit.Infra error that names the
//     owner and says when the lock turns stale.
//  4. Pending and older than the timeout: any live operation would have
//     timed out and marked it failed by now, so the lock is stale. It is
//     marked failed and the operation proceeds.
//
// Marking failed, not rolling back, keeps recovery cheap and predictable:
// the next upgrade starts from the last deployed revision, exactly as
// after any failed upgrade. Objects the interrupted run created and the
// new revision does not render are left in place, as Helm does after a
// failed upgrade.

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
	if r.Labels[LabelOwnerID] == id {
		return true
	}
	if r.Info != nil && r.Info.Status == rcommon.StatusPendingRollback {
		if m := ownerIDPattern.FindStringSubmatch(r.Info.Description); m != nil {
			return m[1] == id
		}
	}
	return false
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
// live operation, and otherwise what recovering it means.
func checkPending(last *release.Release, owner string, staleAfter time.Duration, now time.Time) (string, error) {
	if last == nil || last.Info == nil || !last.Info.Status.IsPending() {
		return "", nil
	}
	ours := ownedBy(last, ownerID(owner))
	started := last.Info.LastDeployed
	age := now.Sub(started)
	if !ours && age < staleAfter {
		return "", exit.Infraf("release %s/%s: revision %d is %s since %s (%s ago), started by %s; "+
			"another deploy may still be running. Wait for it to finish; stepper treats the lock as stale "+
			"and recovers it from %s on",
			last.Namespace, last.Name, last.Version, last.Info.Status, started.UTC().Format(time.RFC3339),
			age.Round(time.Second), ownerOf(last), started.Add(staleAfter).UTC().Format(time.RFC3339))
	}
	why := "stale lock of this owner"
	if !ours {
		why = fmt.Sprintf("stale lock of %s, older than the timeout %s", ownerOf(last), staleAfter)
	}
	return fmt.Sprintf("revision %d was %s (%s); marked failed", last.Version, last.Info.Status, why), nil
}

// recoverPending applies the rule above to the newest revision in hist
// and marks it failed when it is a stale lock. It returns what it
// recovered, "" if nothing. staleAfter is the operation's timeout.
func (s *session) recoverPending(hist []*release.Release, owner string, staleAfter time.Duration, now time.Time) (string, error) {
	if len(hist) == 0 {
		return "", nil
	}
	last := hist[len(hist)-1]
	msg, err := checkPending(last, owner, staleAfter, now)
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
