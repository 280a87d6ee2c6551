package smoketest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
)

// target decides what is tested before anything runs: the image (--image,
// else --from-result; else later the release's workload) and the app's
// URL (--url, else its DNS values in the desired state, whose commit the
// evidence then names).
func (s *Step) target(ctx context.Context, job Job, out *Outcome) error {
	switch {
	case job.Image != "":
		img, err := release.ParseRef(job.Image)
		if err != nil {
			return exit.Mark(exit.Usage, fmt.Errorf("--image: %w", err))
		}
		out.Image = img
	case job.FromResult != "":
		prev, err := report.ReadJSON(job.FromResult)
		if err != nil {
			return exit.Mark(exit.Usage, fmt.Errorf("--from-result: %w", err))
		}
		if out.Image, err = release.ImageFromResult("--from-result "+job.FromResult, prev); err != nil {
			return err
		}
	}
	out.URL = job.URL
	needURL, needNamespace := job.URL == "", job.Namespace == ""
	haveState := (job.State != "" || job.DesiredState.Repo != "") && s.States != nil
	if needNamespace {
		// The environment's name, unless its desired state says otherwise;
		// that is read only when the cluster is asked.
		out.Namespace = job.Env
		needNamespace = s.Releases != nil
	}
	if !needURL && !needNamespace {
		return nil
	}
	if !haveState {
		if needURL && (job.State != "" || job.DesiredState.Repo != "") {
			return exit.Usagef("smoke-test %s/%s: no --url, and no desired state to read the app's host name from", job.Env, job.App)
		}
		return nil
	}
	state, err := s.States.Read(ctx, job.DesiredState, job.State)
	if err != nil {
		if !needURL {
			// Only the namespace was wanted: the environment's name will do.
			logging.From(ctx).Debug().Err(err).Msg("desired state not read; the release's namespace is the environment's name")
			return nil
		}
		return err
	}
	defer state.Close()
	if needNamespace {
		if a, err := state.Doc.App(job.App); err == nil && a.Namespace != "" {
			out.Namespace = a.Namespace
		}
	}
	if !needURL {
		return nil
	}
	if out.URL, err = AppURL(state.Doc, job.Env, job.App); err != nil {
		return err
	}
	out.DesiredStateCommit = state.Commit
	return nil
}

// AppURL is https:// and the app's host name, as its DNS values say in
// the environment's desired state (values.dns keys; ingress.host by
// default). A value that already carries a scheme is taken as it is.
func AppURL(doc desiredstate.Document, env, app string) (string, error) {
	a, err := doc.App(app)
	if err != nil {
		return "", exit.Mark(exit.Usage, fmt.Errorf("smoke-test: %w", err))
	}
	// Host keys first, each group sorted: TLS entries may hold secret names.
	keys := slices.SortedFunc(maps.Keys(a.Config.DNS), func(x, y string) int {
		return cmp.Or(cmpBool(strings.Contains(y, "host"), strings.Contains(x, "host")), strings.Compare(x, y))
	})
	for _, k := range keys {
		v := strings.TrimSpace(a.Config.DNS[k])
		if strings.Contains(v, "://") {
			return strings.TrimRight(v, "/"), nil
		}
		if strings.Contains(v, ".") && !strings.ContainsAny(v, " /") {
			return "https://" + v, nil
		}
	}
	return "", exit.Usagef("smoke-test %s/%s: the desired state gives the app no host name (values.dns keys); pass --url", env, app)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
