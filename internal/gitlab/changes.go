package gitlab

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Change is one pending change a shared merge request carries, such as one
// app's new image on its way from master to prod.
//
// GitLab keeps one open merge request per source and target branch, so every
// change pushed to master before the merge lands in the same merge request.
// Its description lists each change in an entry of its own, marked with the
// change's key in HTML comments (invisible in GitLab's rendering), so that a
// later run can replace its own entry and keep everyone else's.
type Change struct {
	// Key names the change among the others, such as "exttest/api": an
	// entry with the same key is replaced, others stay. Letters, digits and
	// . _ / : @ + -, without "--" (HTML comments cannot hold it).
	Key string
	// Markdown describes the change; it may hold any Markdown, diff blocks
	// included, but no line that is one of the entry markers.
	Markdown string
}

// changeKey is what Change.Key may be: it has to fit in an HTML comment and
// on one line.
var changeKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$`)

func startMarker(key string) string { return "<!-- stepper:change " + key + " -->" }
func endMarker(key string) string   { return "<!-- /stepper:change " + key + " -->" }

// marker matches the line that opens or closes an entry.
var marker = regexp.MustCompile(`^<!-- (/?)stepper:change (\S+) -->$`)

// checkChanges refuses changes that could not be read back from the
// description they are written into.
func checkChanges(intro string, changes []Change) error {
	if containsMarker(intro) {
		return fmt.Errorf("the description holds a line that marks a change entry (<!-- stepper:change … -->)")
	}
	seen := map[string]bool{}
	for _, ch := range changes {
		switch {
		case !changeKey.MatchString(ch.Key) || strings.Contains(ch.Key, "--"):
			return fmt.Errorf("change key %q: use letters, digits and . _ / : @ + -, without \"--\"", ch.Key)
		case seen[ch.Key]:
			return fmt.Errorf("change key %q is given twice", ch.Key)
		case strings.TrimSpace(ch.Markdown) == "":
			return fmt.Errorf("change %s has no description", ch.Key)
		case containsMarker(ch.Markdown):
			return fmt.Errorf("change %s: its description holds a line that marks a change entry (<!-- stepper:change … -->)", ch.Key)
		}
		seen[ch.Key] = true
	}
	return nil
}

func containsMarker(s string) bool {
	for line := range strings.Lines(s) {
		if marker.MatchString(strings.TrimRight(line, "\r\n")) {
			return true
		}
	}
	return false
}

// parseChanges splits a description into its change entries, in order, and
// the text outside them. An entry whose closing marker is missing (someone
// edited it away) is not an entry: its lines count as text.
func parseChanges(description string) (text string, changes []Change) {
	lines := strings.Split(strings.ReplaceAll(description, "\r\n", "\n"), "\n")
	var outside []string
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil || m[1] == "/" {
			outside = append(outside, lines[i])
			continue
		}
		end := slices.Index(lines[i+1:], endMarker(m[2]))
		if end < 0 {
			outside = append(outside, lines[i])
			continue
		}
		body := strings.Join(lines[i+1:i+1+end], "\n")
		changes = slices.DeleteFunc(changes, func(c Change) bool { return c.Key == m[2] })
		changes = append(changes, Change{Key: m[2], Markdown: body})
		i += end + 1
	}
	return strings.TrimSpace(strings.Join(outside, "\n")), changes
}

// mergeChanges returns the entries of the existing description with each of
// changes put in: an entry with the same key is replaced where it stands, a
// new key is added at the end.
func mergeChanges(existing, changes []Change) []Change {
	out := slices.Clone(existing)
	for _, ch := range changes {
		if i := slices.IndexFunc(out, func(c Change) bool { return c.Key == ch.Key }); i >= 0 {
			out[i] = ch
		} else {
			out = append(out, ch)
		}
	}
	return out
}

// renderChanges writes text followed by one entry per change.
func renderChanges(text string, changes []Change) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(text))
	for _, ch := range changes {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(startMarker(ch.Key) + "\n" + strings.Trim(ch.Markdown, "\n") + "\n" + endMarker(ch.Key))
	}
	b.WriteString("\n")
	return b.String()
}

// PendingChanges returns the change entries a merge request's description
// lists, in order, as EnsureMergeRequest wrote them.
func PendingChanges(description string) []Change {
	_, changes := parseChanges(description)
	return changes
}

// descriptionOver is what mr's description should become, given the one the
// open merge request has now ("" for a new one), and whether it changes.
func (mr MergeRequest) descriptionOver(current string, exists bool) (string, bool) {
	if len(mr.Changes) == 0 {
		if exists && mr.KeepDescription {
			return current, false
		}
		return mr.Description, true
	}
	text, listed := parseChanges(current)
	if !exists || !mr.KeepDescription {
		text = mr.Description
	}
	out := renderChanges(text, mergeChanges(listed, mr.Changes))
	return out, !exists || out != current
}

// validChanges is EnsureMergeRequest's check of mr.Changes.
func (mr MergeRequest) validChanges(op string) error {
	if len(mr.Changes) == 0 {
		return nil
	}
	if err := checkChanges(mr.Description, mr.Changes); err != nil {
		return exit.Usagef("gitlab: %s: %w", op, err)
	}
	return nil
}
