package smoketest

import (
	"fmt"
	"io"
	"strings"
)

// plan is --dry-run: the checks a run would make against url, in order.
func plan(job Job, url string) []string {
	var p []string
	if job.Wait {
		p = append(p, fmt.Sprintf("wait for release %s/%s to roll out (kstatus, fail fast, timeout %s)", job.Namespace, job.App, job.Timeout))
	}
	if url != "" {
		base := strings.TrimRight(url, "/")
		for _, h := range job.HealthPaths {
			p = append(p, fmt.Sprintf("GET %s%s answers 200", base, h))
		}
		for _, c := range job.Check {
			p = append(p, fmt.Sprintf("check %s against %s", c, url))
		}
		if job.B3Path != "" {
			p = append(p, fmt.Sprintf("B3 headers sent to %s%s reach the capture endpoint on %s", base, job.B3Path, job.B3Listen))
		}
	}
	if job.SoakFor() > 0 {
		p = append(p, fmt.Sprintf("no pod restarts during a %s soak", job.SoakFor()))
	}
	if !job.NoEvidence {
		p = append(p, "then attach signed smoke-test evidence to the image digest")
	}
	return p
}

// WritePlan prints what a dry run would run.
func (o *Outcome) WritePlan(w io.Writer) error {
	fmt.Fprintf(w, "smoke-test %s/%s would run:\n", o.Env, o.App)
	for _, l := range o.Planned {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return nil
}
