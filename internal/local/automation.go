package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"go.yaml.in/yaml/v3"
)

// ImageAutomation stands in for Flux's image-reflector-controller and
// image-automation-controller on a local clone: every Interval it reads
// the ImageRepository, ImagePolicy and ImageUpdateAutomation objects in a
// branch of a desired-state repository, lists each repository's tags in
// the registry, selects the latest image of each policy, and runs the
// controller's setter update (UpdateWithSetters) over each automation's
// path. What changed it commits as the controller does, "Automated image
// update" by its author, and pushes; a push that loses a race is retried
// on the next round, from the branch as it then is.
//
// What it reads of the objects: ImageRepository spec.image; ImagePolicy
// spec.imageRepositoryRef, spec.filterTags {pattern, extract} and
// spec.policy {semver.range, numerical.order, alphabetical.order};
// ImageUpdateAutomation spec.update.path and spec.git.commit.author. It
// always reflects the digest of the selected tag (digestReflectionPolicy
// Always) and ignores intervals, suspension and message templates.
type ImageAutomation struct {
	// Repo is the bare repository, Branch the branch automation reads and
	// writes (spec.git.checkout and push alike).
	Repo   *Repo
	Branch string
	// Work is the working copy it keeps.
	Work string
	// Interval is how often it looks; a second when zero.
	Interval time.Duration
	// Logf hears what it commits and what fails.
	Logf func(string, ...any)
}

// Start runs automation in the background until the returned stop is
// called; stop waits for a round under way to end.
func (a *ImageAutomation) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	interval := a.Interval
	if interval <= 0 {
		interval = time.Second
	}
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		var last string
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := a.Round(ctx); err != nil && ctx.Err() == nil && err.Error() != last {
				// Said once until it changes: a broken policy fails every
				// round the same way.
				a.Logf("image automation: %v", err)
				last = err.Error()
			} else if err == nil {
				last = ""
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// Round is one look: it returns the commit it pushed, "" when nothing
// moved.
func (a *ImageAutomation) Round(ctx context.Context) (string, error) {
	if err := a.sync(); err != nil {
		return "", err
	}
	objs, err := readAutomationObjects(a.Work)
	if err != nil {
		return "", err
	}
	latest := map[string]LatestImage{}
	for _, p := range objs.policies {
		repo, ok := objs.repos[p.repoRef]
		if !ok {
			return "", fmt.Errorf("%s: ImagePolicy %s names ImageRepository %s, which no file holds", p.file, p.key, p.repoRef)
		}
		img, ok, err := p.latest(ctx, repo)
		if err != nil {
			return "", fmt.Errorf("%s: ImagePolicy %s: %w", p.file, p.key, err)
		}
		if ok {
			latest[p.key] = img
		}
	}
	if len(latest) == 0 || len(objs.automations) == 0 {
		return "", nil
	}
	var changed []string
	var byWhom automationObject
	for _, u := range objs.automations {
		dir := filepath.Join(a.Work, filepath.FromSlash(strings.TrimPrefix(u.path, "./")))
		if !strings.HasPrefix(dir, a.Work) {
			return "", fmt.Errorf("%s: ImageUpdateAutomation %s: spec.update.path %q leaves the repository", u.file, u.key, u.path)
		}
		applied, err := UpdateWithSetters(dir, latest)
		if err != nil {
			return "", err
		}
		for file := range applied {
			rel, _ := filepath.Rel(a.Work, filepath.Join(dir, file))
			changed = append(changed, filepath.ToSlash(rel))
		}
		if len(applied) > 0 {
			byWhom = u
		}
	}
	if len(changed) == 0 {
		return "", nil
	}
	sort.Strings(changed)
	var images []string
	for _, img := range latest {
		images = append(images, img.Name+":"+img.Tag)
	}
	sort.Strings(images)
	msg := "Automated image update\n\nAutomation name: " + byWhom.key + "\n\nFiles:\n- " + strings.Join(changed, "\n- ") +
		"\nImages:\n- " + strings.Join(images, "\n- ") + "\n"
	if _, err := runGit(a.Repo.git, a.Work, "add", "--all"); err != nil {
		return "", err
	}
	if _, err := runGit(a.Repo.git, a.Work, "commit", "--quiet", "--author", byWhom.author, "-m", msg); err != nil {
		return "", err
	}
	if _, err := runGit(a.Repo.git, a.Work, "push", "--quiet", "origin", "HEAD:refs/heads/"+a.Branch); err != nil {
		return "", fmt.Errorf("push (tried again next round): %w", err)
	}
	head, err := runGit(a.Repo.git, a.Work, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	a.Logf("image automation: %s %s", head[:min(12, len(head))], strings.Join(images, ", "))
	return head, nil
}

// sync makes the working copy the branch as the repository has it.
func (a *ImageAutomation) sync() error {
	if _, err := os.Stat(filepath.Join(a.Work, ".git")); err != nil {
		if _, err := runGit(a.Repo.git, "", "clone", "--quiet", "--branch", a.Branch, a.Repo.FileURL, a.Work); err != nil {
			return err
		}
	}
	if _, err := runGit(a.Repo.git, a.Work, "fetch", "--quiet", "origin", a.Branch); err != nil {
		return err
	}
	_, err := runGit(a.Repo.git, a.Work, "reset", "--quiet", "--hard", "FETCH_HEAD")
	return err
}

// automationObjects are the image automation objects of a repository, by
// "namespace/name".
type automationObjects struct {
	repos       map[string]string // spec.image
	policies    []imagePolicy
	automations []automationObject
}

type automationObject struct {
	file, key    string
	path, author string
}

type imagePolicy struct {
	file, key, repoRef string
	pattern            *regexp.Regexp
	extract            string
	semver             *semver.Constraints
	numerical          string // asc or desc
	alphabetical       string // asc or desc
}

// object is what automation reads of a manifest.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Image              string `yaml:"image"`
		ImageRepositoryRef struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"imageRepositoryRef"`
		FilterTags struct {
			Pattern string `yaml:"pattern"`
			Extract string `yaml:"extract"`
		} `yaml:"filterTags"`
		Policy struct {
			Semver       *struct{ Range string } `yaml:"semver"`
			Numerical    *struct{ Order string } `yaml:"numerical"`
			Alphabetical *struct{ Order string } `yaml:"alphabetical"`
		} `yaml:"policy"`
		Update struct {
			Path string `yaml:"path"`
		} `yaml:"update"`
		Git struct {
			Commit struct {
				Author struct{ Name, Email string } `yaml:"author"`
			} `yaml:"commit"`
		} `yaml:"git"`
	} `yaml:"spec"`
}

// readAutomationObjects reads every YAML document of the working copy
// whose API group is image.toolkit.fluxcd.io.
func readAutomationObjects(dir string) (*automationObjects, error) {
	objs := &automationObjects{repos: map[string]string{}}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			if err == nil && e.Name() == ".git" {
				return filepath.SkipDir
			}
			return err
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(src, []byte("image.toolkit.fluxcd.io/")) {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		dec := yaml.NewDecoder(bytes.NewReader(src))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if !strings.HasPrefix(o.APIVersion, "image.toolkit.fluxcd.io/") {
				continue
			}
			if err := objs.add(rel, o); err != nil {
				return err
			}
		}
	})
	return objs, err
}

func (objs *automationObjects) add(file string, o object) error {
	ns := o.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	key := ns + "/" + o.Metadata.Name
	switch o.Kind {
	case "ImageRepository":
		objs.repos[key] = o.Spec.Image
	case "ImagePolicy":
		ref := o.Spec.ImageRepositoryRef
		if ref.Namespace == "" {
			ref.Namespace = ns
		}
		p := imagePolicy{file: file, key: ns + ":" + o.Metadata.Name, repoRef: ref.Namespace + "/" + ref.Name, extract: o.Spec.FilterTags.Extract}
		if pat := o.Spec.FilterTags.Pattern; pat != "" {
			re, err := regexp.Compile(pat)
			if err != nil {
				return fmt.Errorf("%s: ImagePolicy %s: spec.filterTags.pattern: %w", file, key, err)
			}
			p.pattern = re
		}
		switch pol := o.Spec.Policy; {
		case pol.Semver != nil:
			c, err := semver.NewConstraint(pol.Semver.Range)
			if err != nil {
				return fmt.Errorf("%s: ImagePolicy %s: spec.policy.semver.range: %w", file, key, err)
			}
			p.semver = c
		case pol.Numerical != nil:
			p.numerical = cmpOr(pol.Numerical.Order, "asc")
		case pol.Alphabetical != nil:
			p.alphabetical = cmpOr(pol.Alphabetical.Order, "asc")
		default:
			return fmt.Errorf("%s: ImagePolicy %s: give spec.policy semver, numerical or alphabetical", file, key)
		}
		objs.policies = append(objs.policies, p)
	case "ImageUpdateAutomation":
		author := o.Spec.Git.Commit.Author
		if author.Name == "" {
			author.Name, author.Email = "fluxcdbot", "fluxcdbot@users.noreply.github.com"
		}
		objs.automations = append(objs.automations, automationObject{file: file, key: key,
			path: cmpOr(o.Spec.Update.Path, "."), author: author.Name + " <" + author.Email + ">"})
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// latest is the image the policy selects among the repository's tags;
// false when no tag passes its filter.
func (p imagePolicy) latest(ctx context.Context, image string) (LatestImage, bool, error) {
	repo, err := name.NewRepository(image, name.Insecure)
	if err != nil {
		return LatestImage{}, false, fmt.Errorf("image %q: %w", image, err)
	}
	tags, err := remote.List(repo, remote.WithContext(ctx))
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return LatestImage{}, false, nil // nothing pushed yet
		}
		return LatestImage{}, false, fmt.Errorf("list the tags of %s: %w", image, err)
	}
	best, bestKey := "", ""
	var bestVersion *semver.Version
	for _, tag := range tags {
		key := tag
		if p.pattern != nil {
			m := p.pattern.FindStringSubmatchIndex(tag)
			if m == nil {
				continue
			}
			if p.extract != "" {
				key = string(p.pattern.ExpandString(nil, p.extract, tag, m))
			}
		}
		switch {
		case p.semver != nil:
			v, err := semver.NewVersion(key)
			if err != nil || !p.semver.Check(v) {
				continue
			}
			if bestVersion == nil || v.GreaterThan(bestVersion) {
				best, bestVersion = tag, v
			}
		case p.numerical != "":
			n, err := strconv.ParseFloat(key, 64)
			if err != nil {
				continue
			}
			b, _ := strconv.ParseFloat(bestKey, 64)
			if best == "" || (p.numerical == "asc" && n > b) || (p.numerical == "desc" && n < b) {
				best, bestKey = tag, key
			}
		default:
			if best == "" || (p.alphabetical == "asc" && key > bestKey) || (p.alphabetical == "desc" && key < bestKey) {
				best, bestKey = tag, key
			}
		}
	}
	if best == "" {
		return LatestImage{}, false, nil
	}
	desc, err := remote.Head(repo.Tag(best), remote.WithContext(ctx))
	if err != nil {
		return LatestImage{}, false, fmt.Errorf("the digest of %s:%s: %w", image, best, err)
	}
	return LatestImage{Name: image, Tag: best, Digest: desc.Digest.String()}, true, nil
}
