package policy

import (
	"fmt"
	"slices"
)

// A release runs every image its rendered workloads name, not only the one
// that was built: a sidecar or init container from another registry, by a
// moving tag, unsigned, runs with the same rights as the app. So the image
// rules that concern where an image comes from and who vouches for it
// (approved registry, pinned, not latest, signed) apply to each of them.
// The rules about how an image was built (base, user, entrypoint) stay with
// the app's own image: a platform sidecar is not built by the vendor.

// workloadImageRules are the image rules checked for every image a
// rendered workload runs.
var workloadImageRules = []string{ruleImageSigned, ruleImageApprovedRegistry, ruleImagePinned, ruleImageNoLatest}

// ContainerImage is one image the rendered manifests run.
type ContainerImage struct {
	Ref string
	// Where names the first container that runs it, e.g.
	// "Deployment/api container proxy".
	Where string
	// Template is the chart template that container came from.
	Template string
}

// WorkloadImage is what the registry and the signature check said about
// an image the rendered manifests run, and where they run it.
type WorkloadImage struct {
	Image
	Where, Template string // as in ContainerImage
}

// ContainerImages returns each image the rendered workloads run (init,
// regular and ephemeral containers) once, in render order. Helm test hooks
// run from CI, not on the platform, and are left out, as the manifest rules
// leave them out.
func ContainerImages(objs []Object) []ContainerImage {
	var out []ContainerImage
	for _, o := range objs {
		kind := kindOf(o.Object)
		path, ok := podTemplate[kind]
		if !ok || isTestHook(o.Object) {
			continue
		}
		spec := mapAt(mapAt(o.Object, path...), "spec")
		for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
			for _, c := range listAt(spec, list) {
				ref := str(c, "image")
				if ref == "" || slices.ContainsFunc(out, func(ci ContainerImage) bool { return ci.Ref == ref }) {
					continue
				}
				out = append(out, ContainerImage{Ref: ref, Template: o.Template,
					Where: fmt.Sprintf("%s/%s container %s", kind, str(o.Object, "metadata", "name"), str(c, "name"))})
			}
		}
	}
	return out
}

// checkWorkloadImages applies the workload image rules to each image the
// rendered manifests run besides the app's own.
func checkWorkloadImages(cfg Config, in Input) []Finding {
	var out []Finding
	for _, img := range in.WorkloadImages {
		for _, f := range checkImageSource(cfg, &img.Image) {
			f.Message = img.Where + ": " + f.Message
			f.File = img.Template
			out = append(out, f)
		}
	}
	return out
}

// FromApprovedRegistry reports whether ref names an image in the approved
// registry (a host, or host/path that ref must start with). With no
// approved registry every image is.
func FromApprovedRegistry(approved, ref, registry string) bool {
	return approved == "" || fromRegistry(approved, &Image{Ref: ref, Registry: registry})
}
