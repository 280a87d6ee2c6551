package desiredstate

import (
	"fmt"
	"strings"
)

// unifiedDiff is a small line diff (LCS) with three lines of context, good
// enough for golden files of a few hundred lines. It also returns the
// 1-based lines of a that changed, and for insertions the line they follow.
func unifiedDiff(nameA, nameB string, a, b []byte) (string, []int) {
	la, lb := splitLines(string(a)), splitLines(string(b))
	n, m := len(la), len(lb)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if la[i] == lb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
		ai   int // index into a (for ' ' and '-'), or position for '+'
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && la[i] == lb[j]:
			ops = append(ops, op{' ', la[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', la[i], i, j})
			i++
		default:
			ops = append(ops, op{'+', lb[j], i, j})
			j++
		}
	}
	var touched []int
	var out strings.Builder
	if len(ops) > 0 {
		fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	}
	const ctx = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-ctx, 0)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		var body strings.Builder
		ca, cb := 0, 0
		for _, o := range ops[start:end] {
			body.WriteString(string(o.kind) + o.text + "\n")
			if o.kind != '+' {
				ca++
			}
			if o.kind != '-' {
				cb++
			}
			switch o.kind {
			case '-':
				touched = append(touched, o.ai+1)
			case '+':
				touched = append(touched, o.ai) // the line it follows
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n%s", ops[start].ai+1, ca, ops[start].bi+1, cb, body.String())
		k = end
	}
	return out.String(), touched
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
