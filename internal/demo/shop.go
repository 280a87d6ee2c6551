package demo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/local"
)

// shopFlow is the shop's platform (seed 003): Flux HelmReleases in one
// repository; staging takes a commit and a stag-* tag, production the
// master-* tag alone, which image automation writes into its HelmRelease.
// Flux's helm-controller does not run here: stepper deploy --apply applies
// the HelmReleases as it would.
var shopFlow = flow{
	app:       "blog-service",
	chains:    map[string][]string{"release": {"staging", "production"}},
	namespace: func(env string) string { return "shop-" + env },
	desired:   shopDesired,
	applier:   "Flux's helm-controller, for which stepper deploy --apply stands in here,",
	phases: func(d *demo) []phase {
		return []phase{
			{"validate", "check the release against the platform's container rules: first a variant that breaks them, then the real one, whose verdict is signed", d.validate},
			{"deploy staging", "write the release into staging's HelmRelease by commit and give its digest the stag- tag, then apply it as Flux's helm-controller would", d.shopDeployStaging},
			{"smoke-test staging", "prove the release runs in staging and sign that evidence", func(ctx context.Context) error { return d.smoke(ctx, "staging") }},
			{"promote production", "give the digest that passed staging its master- tag, with no rebuild and no edit; image automation writes it into production's HelmRelease", d.shopPromote},
			{"broken release", "deploy a version whose probes fail to staging: the apply diagnoses it and rolls back, then rollback restores the HelmRelease and holds it", d.shopBroken},
			{"status", "the environment × app board: what runs where, its evidence, and what stops it moving on", d.status},
		}
	},
}

// shopFile is the app's HelmRelease in env.
func (d *demo) shopFile(env string) string { return "clusters/" + env + "/apps/" + d.app + ".yaml" }

// shopDesired checks that env's HelmRelease names digest.
func shopDesired(d *demo, env, digest string) error {
	text, err := d.git("show", "master:"+d.shopFile(env))
	if err != nil {
		return err
	}
	if !strings.Contains(text, digest) {
		return fmt.Errorf("%s on master does not name %s:\n%s", d.shopFile(env), digest, text)
	}
	d.checked("%s on master names %s", d.shopFile(env), short(digest))
	return nil
}

// wantTag checks that tag names digest in the registry.
func (d *demo) wantTag(ctx context.Context, tag, digest string) error {
	got, err := d.head(ctx, d.image()+":"+tag)
	if err != nil {
		return err
	}
	if got != digest {
		return fmt.Errorf("the registry's %s:%s names %s, want %s", d.image(), tag, short(got), short(digest))
	}
	d.checked("the registry's %s:%s names %s", d.image(), tag, short(digest))
	return nil
}

func (d *demo) shopDeployStaging(ctx context.Context) error {
	before := d.rev("master")
	if _, err := d.must(ctx, "deploy", "--env", "staging", "--app", d.app, "--from-result", "build.json"); err != nil {
		return err
	}
	if d.rev("master") == before {
		return errors.New("nothing was committed to master")
	}
	changed, err := d.git("diff", "--name-only", before, "master")
	if err != nil {
		return err
	}
	if changed != d.shopFile("staging") {
		return fmt.Errorf("the commit changes %q, want only %s", changed, d.shopFile("staging"))
	}
	if err := d.wantDesired("staging", d.good); err != nil {
		return err
	}
	if err := d.wantTag(ctx, "stag-1.0.0", d.good); err != nil {
		return err
	}
	return d.apply(ctx, "staging", d.good)
}

func (d *demo) shopPromote(ctx context.Context) error {
	before := d.rev("master")
	if _, err := d.must(ctx, "promote", "--app", d.app, "--from", "staging"); err != nil {
		return err
	}
	if err := d.wantTag(ctx, "master-1.0.0", d.good); err != nil {
		return err
	}
	d.say("image automation (the clone's stand-in for Flux's controllers) sees master-1.0.0 and writes it into production's HelmRelease:")
	commit, err := d.automated(before, 30*time.Second)
	if err != nil {
		return err
	}
	d.checked("image automation committed %s as fluxcdbot", commit[:12])
	text, err := d.git("show", "master:"+d.shopFile("production"))
	if err != nil {
		return err
	}
	if !liveMasterTag.MatchString(text) {
		return fmt.Errorf("%s does not name master-1.0.0 under its setter:\n%s", d.shopFile("production"), text)
	}
	if err := d.wantDesired("production", d.good); err != nil {
		return err
	}
	if err := d.apply(ctx, "production", d.good); err != nil {
		return err
	}
	return d.smoke(ctx, "production")
}

// liveMasterTag is production's tag line as automation writes it (kyaml
// keeps the quotes of the value it replaces), under its live setter.
var liveMasterTag = regexp.MustCompile(`(?m)^\s+tag: "?master-1\.0\.0"? # \{"\$imagepolicy": `)

// automated waits for image automation's commit on master after since and
// returns it.
func (d *demo) automated(since string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		out, err := d.git("log", "--format=%H %an", since+"..master")
		if err != nil {
			return "", err
		}
		for line := range strings.Lines(out) {
			if hash, author, _ := strings.Cut(strings.TrimSpace(line), " "); author == "fluxcdbot" {
				return hash, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("image automation made no commit in %s (see %s)", wait, local.LogPath(d.clone))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shopBroken is the broken release in staging; production must not move.
func (d *demo) shopBroken(ctx context.Context) error {
	if err := d.brokenRelease(ctx); err != nil {
		return err
	}
	if err := d.wantTag(ctx, "stag-1.0.1", d.broken); err != nil {
		return err
	}
	if _, err := d.head(ctx, d.image()+":master-1.0.1"); err == nil {
		return errors.New("the broken release has a master- tag")
	}
	if err := d.wantDesired("production", d.good); err != nil {
		return err
	}
	d.checked("production still runs 1.0.0: the broken release never got a master- tag")
	return d.wantRunning(ctx, "production", d.good)
}
