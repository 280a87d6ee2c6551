package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// The OCI annotations a builder writes to name the base image.
const (
	annotationBaseDigest = "org.opencontainers.image.base.digest"
	annotationBaseName   = "org.opencontainers.image.base.name"
)

func checkImage(cfg Config, in Input) []Finding {
	img := in.Image
	var out []Finding
	add := func(rule, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Object: img.Ref, Message: fmt.Sprintf(format, args...)})
	}
	notChecked := func(rule, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Object: img.Ref, Severity: Info,
			Message: "not checked: " + fmt.Sprintf(format, args...)})
	}

	// Built on an approved base. The annotation is only a claim anyone can
	// write; the layers are what the image is made of.
	switch base, ok := approvedBase(cfg.ApprovedBases, img.DiffIDs); {
	case len(cfg.ApprovedBases) == 0 && cfg.PlatformRules:
		add(ruleImageApprovedBase, "the platform names no approved base images, so no image can be shown to be built on one: set baseImages in the platform file")
	case len(cfg.ApprovedBases) == 0:
		notChecked(ruleImageApprovedBase, "no approved base images are configured (baseImages in stepper.yaml)")
	case !ok && img.Annotations[annotationBaseDigest] != "":
		add(ruleImageApprovedBase, "the image says it is built on %s, but its layers do not start with the layers of any approved base image (%s)",
			baseClaim(img.Annotations), baseNames(cfg.ApprovedBases))
	case !ok:
		add(ruleImageApprovedBase, "the image's %d layers do not start with the layers of any approved base image (%s)",
			len(img.DiffIDs), baseNames(cfg.ApprovedBases))
	case img.Annotations[annotationBaseDigest] == "":
		add(ruleImageBaseAnnotation, "the layers match approved base %s, but the image has no %s annotation", base.Name, annotationBaseDigest)
	case base.Digest != "" && img.Annotations[annotationBaseDigest] != base.Digest:
		add(ruleImageBaseAnnotation, "the layers match approved base %s@%s, but the %s annotation says %s",
			base.Name, base.Digest, annotationBaseDigest, img.Annotations[annotationBaseDigest])
	}

	if user, root := rootUser(img.User); root {
		if user == "" {
			add(ruleImageNonRoot, "the image sets no USER, so it runs as root")
		} else {
			add(ruleImageNonRoot, "the image runs as USER %s, which is root", img.User)
		}
	}

	out = append(out, checkImageSource(cfg, img)...)

	if shell := shellForm(append(slices.Clone(img.Entrypoint), img.Cmd...)); shell != "" {
		add(ruleImageExecForm, "the main process (PID 1) is %q: a shell does not pass SIGTERM on to the application, which is killed after the timeout", shell)
	}
	return out
}

// checkImageSource checks where an image comes from and who vouches for it:
// signed by an approved key, from the approved registry, pinned, not
// latest. These apply to every image a release runs.
func checkImageSource(cfg Config, img *Image) []Finding {
	var out []Finding
	add := func(rule, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Object: img.Ref, Message: fmt.Sprintf(format, args...)})
	}
	notChecked := func(rule, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Object: img.Ref, Severity: Info,
			Message: "not checked: " + fmt.Sprintf(format, args...)})
	}

	switch {
	case img.Signature.Verified:
	case cfg.UnsignedBuild:
		notChecked(ruleImageSigned, "a merge request's build is signed once merged (--unsigned-build); the default branch's pipeline checks it")
	default:
		problem := orElse(img.Signature.Problem, "no signature could be verified")
		add(ruleImageSigned, "the image is not signed by an approved key: %s", problem)
	}

	switch {
	case cfg.ApprovedRegistry == "" && cfg.PlatformRules:
		add(ruleImageApprovedRegistry, "the platform names no approved registry: set registry.host in the platform file")
	case cfg.ApprovedRegistry == "":
		notChecked(ruleImageApprovedRegistry, "no approved registry is configured (registry.host in stepper.yaml)")
	case !fromRegistry(cfg.ApprovedRegistry, img):
		add(ruleImageApprovedRegistry, "the image comes from %s, not from the approved registry %s",
			orElse(img.Registry, "an unknown registry"), cfg.ApprovedRegistry)
	}

	switch {
	case img.Digest != "" && img.ResolvedDigest != "" && img.ResolvedDigest != img.Digest:
		add(ruleImagePinned, "the reference pins %s, but the registry served %s", img.Digest, img.ResolvedDigest)
	case img.Digest != "":
	case img.ExpectedDigest == "":
		add(ruleImagePinned, "the image is referenced by tag %s only, and no build result says which digest it should be",
			orElse(img.Tag, "latest (implied)"))
	case img.ResolvedDigest != img.ExpectedDigest:
		add(ruleImagePinned, "tag %s resolves to %s, not to %s that was built and signed",
			img.Tag, orElse(img.ResolvedDigest, "nothing"), img.ExpectedDigest)
	}

	switch {
	case img.Tag == "latest":
		add(ruleImageNoLatest, "the image is referenced by the tag latest")
	case img.Tag == "" && img.Digest == "":
		add(ruleImageNoLatest, "the image is referenced without a tag, which means latest")
	}

	return out
}

// approvedBase returns the approved base whose layers the image's layers
// start with; the longest match wins when bases build on each other.
func approvedBase(bases []ApprovedBase, diffIDs []string) (ApprovedBase, bool) {
	var best ApprovedBase
	found := false
	for _, b := range bases {
		if len(b.DiffIDs) == 0 || len(b.DiffIDs) > len(diffIDs) {
			continue
		}
		if slices.Equal(diffIDs[:len(b.DiffIDs)], b.DiffIDs) && (!found || len(b.DiffIDs) > len(best.DiffIDs)) {
			best, found = b, true
		}
	}
	return best, found
}

func baseClaim(a map[string]string) string {
	if name := a[annotationBaseName]; name != "" {
		return name + "@" + a[annotationBaseDigest]
	}
	return a[annotationBaseDigest]
}

func baseNames(bases []ApprovedBase) string {
	names := make([]string, len(bases))
	for i, b := range bases {
		names[i] = b.Name
	}
	return strings.Join(names, ", ")
}

// rootUser reports whether USER user runs as root: unset, uid 0 or the name
// root, with or without a group ("0:0", "root:wheel"). A non-root user in
// the root group (1001:0) is fine, as OpenShift-style images do.
func rootUser(user string) (string, bool) {
	user = strings.TrimSpace(user)
	name, _, _ := strings.Cut(user, ":")
	return user, name == "" || name == "0" || name == "root"
}

// fromRegistry reports whether img comes from the approved registry: the
// same host, or, when approved has a path, a reference under that path.
func fromRegistry(approved string, img *Image) bool {
	approved = strings.TrimSuffix(strings.ToLower(approved), "/")
	if strings.Contains(approved, "/") {
		return strings.HasPrefix(strings.ToLower(img.Ref), approved+"/")
	}
	return strings.EqualFold(img.Registry, approved)
}

// shellForm returns the shell command line when argv starts a shell with -c
// (what Docker's shell form ENTRYPOINT/CMD makes) and does not exec the
// application, else "". Init processes
// that forward signals (tini, dumb-init) are looked through.
func shellForm(argv []string) string {
	for len(argv) > 0 && slices.Contains([]string{"tini", "dumb-init", "catatonit"}, path.Base(argv[0])) {
		argv = argv[1:]
		for len(argv) > 0 && strings.HasPrefix(argv[0], "-") {
			stop := argv[0] == "--"
			argv = argv[1:]
			if stop {
				break
			}
		}
	}
	if len(argv) < 2 {
		return ""
	}
	shells := []string{"sh", "bash", "ash", "dash", "zsh", "ksh"}
	flag := argv[1]
	if !slices.Contains(shells, path.Base(argv[0])) || !strings.HasPrefix(flag, "-") || strings.HasPrefix(flag, "--") ||
		!strings.Contains(flag, "c") {
		return ""
	}
	if len(argv) > 2 && strings.HasPrefix(strings.TrimSpace(argv[2]), "exec ") {
		return "" // the shell replaces itself with the application
	}
	return strings.Join(argv, " ")
}

// orElse returns s, or fallback when s is empty.
func orElse(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
