package validate

import (
	"fmt"
	"strings"

	"github.com/stepper-cd/stepper/internal/policy"
)

// Summary counts a report's findings for the one-line outcome: "2 errors,
// 1 warning, 1 waived in 3 apps".
func Summary(r *policy.Report) string {
	errs, warns, waived := count(r.Findings)
	parts := []string{plural(errs, "error"), plural(warns, "warning")}
	if waived > 0 {
		parts = append(parts, fmt.Sprintf("%d waived", waived))
	}
	return fmt.Sprintf("%s in %s", strings.Join(parts, ", "), plural(len(r.Checked), "app"))
}

// count sorts findings as validate's verdict does: errors and warnings
// left after waivers (an expired waiver excuses nothing), and the waived.
func count(findings []policy.Finding) (errs, warns, waived int) {
	for _, f := range findings {
		switch {
		case f.Waiver != nil && !f.Waiver.Expired:
			waived++
		case f.Severity == policy.Error:
			errs++
		case f.Severity == policy.Warning:
			warns++
		}
	}
	return errs, warns, waived
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
