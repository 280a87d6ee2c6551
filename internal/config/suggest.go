package config

import (
	"strings"

	"github.com/stepper-cd/stepper/internal/suggest"
)

// closest is suggest.Closest; the short name keeps call sites readable.
func closest(word string, candidates []string) string { return suggest.Closest(word, candidates) }

// didYouMean is a hint suffix: ` did you mean "x"?` or "".
func didYouMean(word string, candidates []string) string {
	if c := closest(word, candidates); c != "" {
		return `did you mean "` + c + `"?`
	}
	return ""
}

// joinHint combines hint parts, skipping empty ones.
func joinHint(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
