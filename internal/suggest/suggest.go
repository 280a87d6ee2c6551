// Package suggest finds the likely intended word behind a typo, for the
// "did you mean" part of an error message.
package suggest

import (
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate nearest to word, or "" when none is near
// enough to be a likely typo. Case and the -_ separators are ignored first, so
// desired_state finds desiredState and PreProd finds preprod.
func Closest(word string, candidates []string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	for _, c := range candidates {
		if norm(c) == norm(word) {
			return c
		}
	}
	best, bestDist := "", 0
	limit := max(2, utf8.RuneCountInString(word)/3)
	for _, c := range candidates {
		if d := Distance(strings.ToLower(word), strings.ToLower(c)); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b in runes. Inputs are
// names, so the quadratic cost is a few hundred steps at most; longer words
// are cut short because nobody mistypes a 64-rune name.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
