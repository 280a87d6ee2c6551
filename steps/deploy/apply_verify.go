package deploy

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
)

// The apply job runs with the platform's privileges on every cluster, on
// a desired state that vendors' pipelines write. So before it writes
// anything it verifies every app it will install (verifyAll): the image
// is pinned by a digest an approved key signed, the chart is the one the
// desired state names, verified as its repository allows (a provenance
// file, a cosign signature on an OCI chart, at least the index digest),
// and every file the desired state names lies inside its checkout.

// openCheckout opens the state's checkout as a root nothing leaves (no
// "..", absolute path or symlink out of it), and says where the state's
// directory is inside it.
func openCheckout(st *land.State) (root *os.Root, top, dir string, err error) {
	top, dir = st.Root, st.Dir
	if top == "" {
		top = st.Dir
	}
	if abs, err := filepath.Abs(top); err == nil {
		top = abs
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	root, err = os.OpenRoot(top)
	if err != nil {
		return nil, "", "", exit.Usagef("desired-state checkout %s: %v", top, err)
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil || !filepathLocal(rel) {
		root.Close()
		return nil, "", "", exit.Usagef("desired-state directory %s is not inside its checkout %s", st.Dir, top)
	}
	return root, top, filepath.ToSlash(rel), nil
}

func filepathLocal(p string) bool { return p == "." || filepath.IsLocal(p) }

// verifyAll verifies every app of queue and returns the upgrade of each,
// by app name. It fails, naming each app that does not pass, before any
// app is applied: a release either goes with all the others or none does.
func (a *applier) verifyAll(ctx context.Context, queue []desiredstate.App) (map[string]helm.UpgradeOptions, error) {
	prepared := make(map[string]helm.UpgradeOptions, len(queue))
	var failed []string
	class := exit.OK
	for _, app := range queue {
		o, err := a.prepare(ctx, app)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", app.Name, err))
			if c := exit.ClassOf(err); class == exit.OK || c == exit.Failed {
				class = c
			}
			continue
		}
		prepared[app.Name] = o
	}
	if len(failed) > 0 {
		return nil, exit.Mark(class, fmt.Errorf("the desired state was not applied, nothing was written to the cluster: %d of %d apps failed verification:\n  %s",
			len(failed), len(queue), strings.Join(failed, "\n  ")))
	}
	return prepared, nil
}

// prepare verifies one app and returns its upgrade.
func (a *applier) prepare(ctx context.Context, app desiredstate.App) (helm.UpgradeOptions, error) {
	if err := a.verifyImage(ctx, app); err != nil {
		return helm.UpgradeOptions{}, err
	}
	if err := a.gates.check(ctx, app); err != nil {
		return helm.UpgradeOptions{}, err
	}
	ref := helm.ChartRef{Repo: app.Chart.RepoURL, Name: app.Chart.Name, Version: app.ChartVersion, Verify: a.chartVerification(app)}
	if ref.Repo == "" && isPath(app.Chart.String()) {
		p, err := a.inCheckout("chart path", app.Chart.String())
		if err != nil {
			return helm.UpgradeOptions{}, err
		}
		ref = helm.ChartRef{Path: p, Root: a.checkout}
	}
	if ref.Repo == "" && ref.Path == "" {
		return helm.UpgradeOptions{}, exit.Usagef("chart %s has no repository URL in the desired state: "+
			"name it in helmRepos (Helmsman) or repositories (helmfile); for Flux, keep the HelmRepository the release's sourceRef names in a file under desiredState.path", app.Chart)
	}
	ch, err := a.helm.Load(ctx, ref)
	if err != nil {
		return helm.UpgradeOptions{}, err
	}
	o := helm.UpgradeOptions{
		Release: app.Name, Namespace: app.Namespace, Chart: ch, CreateNamespace: true,
		Timeout: a.timeoutOf(app), Wait: true, RollbackOnFailure: a.rollbackOnFailure, Owner: a.owner, OwnerURL: a.ownerURL, Waiter: a.waiter,
		ValuesFS: a.checkout,
	}
	if o.Values, err = valuesMap(app.Set, app.SetString); err != nil {
		return helm.UpgradeOptions{}, exit.Mark(exit.Usage, err)
	}
	for _, f := range app.ValuesFiles {
		p, err := a.inCheckout("values file", f)
		if err != nil {
			return helm.UpgradeOptions{}, err
		}
		o.ValueFiles = append(o.ValueFiles, p)
	}
	if err := helm.CheckValueFiles(a.checkout, o.ValueFiles); err != nil {
		return helm.UpgradeOptions{}, err
	}
	return o, nil
}

// inCheckout is the name in the checkout of p, a path the desired state
// gives relative to its own directory. An absolute path, or one that
// climbs out of the checkout, is refused.
func (a *applier) inCheckout(what, p string) (string, error) {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		// A helmfile layout loaded from one of its files names its files
		// by absolute path: inside the checkout, they are its own.
		if a.top != "" {
			if rel, err := filepath.Rel(a.top, p); err == nil && filepath.IsLocal(rel) {
				return helm.ConfinedName(what, rel)
			}
		}
		return helm.ConfinedName(what, p)
	}
	name, err := helm.ConfinedName(what, path.Join(a.dir, filepath.ToSlash(p)))
	if err != nil {
		return "", exit.Usagef("%s %q leaves the desired-state checkout: name a file inside it, relative to the desired-state file", what, p)
	}
	return name, nil
}

// verifyImage refuses an app unless its image is pinned by digest and the
// digest is signed by an approved key.
func (a *applier) verifyImage(ctx context.Context, app desiredstate.App) error {
	img := app.Image
	switch {
	case img.IsZero():
		return exit.Failedf("the desired state names no image for it (image.repository, image.tag, image.digest): " +
			"the apply job installs only images pinned by a signed digest; deploy the release with stepper deploy")
	case img.Digest == "":
		return exit.Failedf("image %s is pinned by tag only, and a tag can move: pin it by its signed digest (image.digest: sha256:...), as stepper deploy writes it", img)
	}
	digest, err := name.NewDigest(img.Repository+"@"+img.Digest, name.StrictValidation)
	if err != nil {
		return exit.Usagef("image %s: %v; give repository and digest literally (sha256: and 64 hex digits)", img, err)
	}
	if a.verifier == nil {
		return exit.Usagef("the apply job verifies image signatures before it installs anything: set signing.publicKeys")
	}
	v, err := a.verifier.Verify(ctx, digest)
	if err != nil {
		return fmt.Errorf("image %s refused: %w", digest, err)
	}
	logging.From(ctx).Info().Str(logging.App, app.Name).Str(logging.Digest, img.Digest).Str("key", v.KeyID).Msg("signature verified")
	return nil
}

// chartVerification is what a remote chart of app must pass: a provenance
// file checked with charts.keyring when its repository serves one, and a
// signature by an approved key on an OCI chart's manifest, the same keys
// images are verified with.
func (a *applier) chartVerification(app desiredstate.App) *helm.Verification {
	v := &helm.Verification{Keyring: a.keyring}
	if a.verifier != nil {
		v.Signature = func(ctx context.Context, manifest name.Digest) error {
			ok, err := a.verifier.Verify(ctx, manifest)
			if err != nil {
				return err
			}
			logging.From(ctx).Info().Str(logging.App, app.Name).Str(logging.Digest, manifest.DigestStr()).Str("key", ok.KeyID).Msg("chart signature verified")
			return nil
		}
	}
	return v
}

// chartKeyring is the path of charts.keyring, "" when none is configured.
func chartKeyring(job Job) string {
	if job.Config == nil {
		return ""
	}
	return job.Config.Charts.Keyring.Expand()
}
