package policy

// The ids of the built-in rules. They are stable: policy files, waivers,
// JUnit test names and README anchors refer to them.
const (
	ruleImageApprovedBase     = "image-approved-base"
	ruleImageBaseAnnotation   = "image-base-annotation"
	ruleImageNonRoot          = "image-non-root"
	ruleImageSigned           = "image-signed"
	ruleImageApprovedRegistry = "image-approved-registry"
	ruleImagePinned           = "image-pinned"
	ruleImageNoLatest         = "image-no-latest"
	ruleImageExecForm         = "image-exec-form"

	ruleChartOfficialRepo = "chart-official-repo"
	ruleChartLocal        = "chart-local"
	ruleChartLatest       = "chart-latest-version"
	ruleChartRenders      = "chart-renders"

	ruleWorkloadPresent    = "manifest-workload-present"
	ruleReplicas           = "manifest-replicas"
	ruleZoneSpread         = "manifest-zone-spread"
	ruleDisruptionBudget   = "manifest-disruption-budget"
	ruleProbes             = "manifest-probes"
	ruleResources          = "manifest-resources"
	ruleRunAsNonRoot       = "manifest-run-as-non-root"
	ruleNoPrivilegeEscal   = "manifest-no-privilege-escalation"
	ruleStateless          = "manifest-stateless"
	ruleNoStatefulSet      = "manifest-no-statefulset"
	ruleGracePeriod        = "manifest-termination-grace"
	ruleRollingUpdate      = "manifest-rolling-update"
	ruleSecretsByReference = "manifest-secrets-by-reference"

	ruleStateAppPresent  = "state-app-present"
	ruleStateImageSet    = "state-image-set"
	ruleStateChartSet    = "state-chart-set"
	ruleStateChartPinned = "state-chart-version-pinned"
	ruleDocsComponent    = "docs-component"

	ruleRuntimeHealth     = "runtime-health"
	ruleRuntimeNonRoot    = "runtime-non-root-uid"
	ruleRuntimeSIGTERM    = "runtime-sigterm"
	linkPrefix            = "https://github.com/stepper-cd/stepper#rule-"
	rulesLink             = "https://github.com/stepper-cd/stepper#rules"
	defaultCustomSeverity = Error
)

// builtin is every built-in rule, in the order reports list them. The
// platform's own words are in the seed "container rules" page; each Title
// says what of it the rule checks.
var builtin = []Rule{
	// 1. Docker image
	{ID: ruleImageApprovedBase, Category: CategoryImage, Severity: Error,
		Title: "The image is built on an approved eHealth base image: its layers start with the base image's layers",
		Fix:   "Build FROM one of the approved base images (baseImages in stepper.yaml) and do not squash or rebase its layers"},
	{ID: ruleImageBaseAnnotation, Category: CategoryImage, Severity: Warning,
		Title: "The org.opencontainers.image.base.digest annotation names the approved base the layers come from",
		Fix:   "Build with a builder that records the base (buildah, docker buildx, kaniko or stepper's layers builder) so the annotation matches the real base"},
	{ID: ruleImageNonRoot, Category: CategoryImage, Severity: Error,
		Title: "The image runs as a non-root user",
		Fix:   "Set USER to a numeric non-root uid in the Dockerfile, e.g. USER 10001"},
	{ID: ruleImageSigned, Category: CategoryImage, Severity: Error,
		Title: "The image is signed with an approved key",
		Fix:   "Sign the pushed digest with an approved, unrevoked key: stepper build-sign-push, or cosign sign --key <approved key>"},
	{ID: ruleImageApprovedRegistry, Category: CategoryImage, Severity: Error,
		Title: "The image is pulled from the platform's central registry",
		Fix:   "Push the image to the central registry and reference it there"},
	{ID: ruleImagePinned, Category: CategoryImage, Severity: Error,
		Title: "The image is referenced by digest, or by a tag that resolves to the digest that was built and signed",
		Fix:   "Reference the image as repo@sha256:..., or pass the build result (--from-result) so the tag can be checked against it"},
	{ID: ruleImageNoLatest, Category: CategoryImage, Severity: Error,
		Title: "The image is not referenced by the tag latest",
		Fix:   "Tag releases with their version and reference that tag, or the digest"},
	{ID: ruleImageExecForm, Category: CategoryImage, Severity: Error,
		Title: "The main process is the application, not a shell: SIGTERM reaches it and it can stop within the grace period",
		Fix:   `Write ENTRYPOINT/CMD in exec form, ["java", "-jar", "app.jar"], or end the start script with exec`},

	// 7. Helm charts
	{ID: ruleChartOfficialRepo, Category: CategoryChart, Severity: Error,
		Title: "The chart comes from an official eHealth chart repository",
		Fix:   "Deploy with one of the official eHealth charts; set its repository in the desired state"},
	{ID: ruleChartLocal, Category: CategoryChart, Severity: Warning,
		Title: "The chart checked is the one the platform deploys, not a local copy",
		Fix:   "Check the chart from its official repository, or make sure the desired state references an official chart"},
	{ID: ruleChartLatest, Category: CategoryChart, Severity: Error,
		Title: "The chart is the newest version in its repository",
		Fix:   "Move to the newest chart version and pin it in the desired state"},
	{ID: ruleChartRenders, Category: CategoryChart, Severity: Error,
		Title: "The chart renders without errors with the app's values",
		Fix:   "Run helm template with the same values and fix the error it prints"},

	// 2. Application requirements and 3. health checks, in the rendered manifests
	{ID: ruleWorkloadPresent, Category: CategoryManifest, Severity: Error,
		Title: "The chart renders the app's workload (a Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod), so the container rules have pods to check",
		Fix:   "Render the app's workload with the values the platform deploys with (is it switched off?); if the app really runs no pods, waive this rule for it with a reason"},
	{ID: ruleReplicas, Category: CategoryManifest, Severity: Error,
		Title: "Every workload runs at least two instances (replicas, or an autoscaler's minReplicas)",
		Fix:   "Set replicas: 2 or more, or a HorizontalPodAutoscaler with minReplicas: 2 or more"},
	{ID: ruleZoneSpread, Category: CategoryManifest, Severity: Error,
		Title: "Every workload's instances are spread across data centres (zones)",
		Fix:   "Add a topologySpreadConstraint with topologyKey: topology.kubernetes.io/zone, or podAntiAffinity on that key"},
	{ID: ruleDisruptionBudget, Category: CategoryManifest, Severity: Error,
		Title: "Every workload is covered by a PodDisruptionBudget, so node maintenance never takes all instances",
		Fix:   "Add a PodDisruptionBudget whose selector matches the pod labels, e.g. maxUnavailable: 1"},
	{ID: ruleProbes, Category: CategoryManifest, Severity: Error,
		Title: "Every container has HTTP readiness and liveness probes on the health endpoint",
		Fix:   "Add readinessProbe and livenessProbe with httpGet on the health path (/healthz unless the policy says otherwise)"},
	{ID: ruleResources, Category: CategoryManifest, Severity: Error,
		Title: "Every container requests memory and CPU and limits memory",
		Fix:   "Set resources.requests.memory, resources.requests.cpu and resources.limits.memory on every container"},
	{ID: ruleRunAsNonRoot, Category: CategoryManifest, Severity: Error,
		Title: "Every container runs with runAsNonRoot: true",
		Fix:   "Set securityContext.runAsNonRoot: true on the pod or on every container, and no runAsUser: 0"},
	{ID: ruleNoPrivilegeEscal, Category: CategoryManifest, Severity: Error,
		Title: "No container can gain privileges: allowPrivilegeEscalation: false, not privileged",
		Fix:   "Set securityContext.allowPrivilegeEscalation: false on every container"},
	{ID: ruleStateless, Category: CategoryManifest, Severity: Error,
		Title: "The application keeps no state on disk: no PersistentVolumeClaims, volumeClaimTemplates or hostPath volumes",
		Fix:   "Keep state in the platform's databases and queues; use emptyDir for scratch space"},
	{ID: ruleNoStatefulSet, Category: CategoryManifest, Severity: Error,
		Title: "Workloads are Deployments, not StatefulSets, because the application is stateless",
		Fix:   "Use a Deployment; if a StatefulSet is really needed, waive this rule for the app with a reason"},
	{ID: ruleGracePeriod, Category: CategoryManifest, Severity: Error,
		Title: "Pods stop within the platform's 10 second SIGTERM timeout (terminationGracePeriodSeconds)",
		Fix:   "Set terminationGracePeriodSeconds: 10 or less (Kubernetes' default is 30) and make the app exit on SIGTERM in time"},
	{ID: ruleRollingUpdate, Category: CategoryManifest, Severity: Error,
		Title: "Deployments roll out without downtime: RollingUpdate with maxUnavailable: 0",
		Fix:   "Set strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}"},
	{ID: ruleSecretsByReference, Category: CategoryManifest, Severity: Error,
		Title: "Secrets reach containers by reference (secretKeyRef, secret volumes), never as literal values",
		Fix:   "Put the value in a Secret and use valueFrom.secretKeyRef, envFrom.secretRef or a secret volume"},

	// 3. Deploy to test environment: the desired state
	{ID: ruleStateAppPresent, Category: CategoryDesiredState, Severity: Error,
		Title: "The app is in the environment's desired state",
		Fix:   "Add the app to the environment's desired-state file (stepper deploy does this)"},
	{ID: ruleStateImageSet, Category: CategoryDesiredState, Severity: Error,
		Title: "The desired state names the app's image",
		Fix:   "Set the app's image repository and tag (or digest) in the desired-state file"},
	{ID: ruleStateChartSet, Category: CategoryDesiredState, Severity: Error,
		Title: "The desired state names the app's chart",
		Fix:   "Set the app's chart (repository/name) in the desired-state file"},
	{ID: ruleStateChartPinned, Category: CategoryDesiredState, Severity: Error,
		Title: "The desired state pins an exact chart version",
		Fix:   "Write the exact chart version, e.g. 1.4.2, not a range such as ^1 or ~1.4 or *"},

	// 8. Documentation
	{ID: ruleDocsComponent, Category: CategoryDocs, Severity: Error,
		Title: "The chart documents the component's purpose, service requirements and resource usage",
		Fix: "Add README.md sections \"Purpose\", \"Service requirements\" and \"Resource usage\", or the Chart.yaml annotations " +
			annotationPurpose + ", " + annotationRequirements + " and " + annotationResources},

	// 9. Runtime (validate --runtime starts the image with podman or docker)
	{ID: ruleRuntimeHealth, Category: CategoryRuntime, Severity: Error,
		Title: "The started container answers its health endpoint",
		Fix:   "Serve the health path (default /healthz) on the container port with a 2xx once the app is ready"},
	{ID: ruleRuntimeNonRoot, Category: CategoryRuntime, Severity: Error,
		Title: "The container's process runs as a non-root uid",
		Fix:   "Set a numeric non-root USER in the image (USER 65532:65532) and do not switch back to root at start"},
	{ID: ruleRuntimeSIGTERM, Category: CategoryRuntime, Severity: Error,
		Title: "SIGTERM ends the container within the platform's 10 s kill deadline",
		Fix:   "Run the app as PID 1 in exec form (or behind tini) and make it exit on SIGTERM: finish in-flight requests and stop within 10 s"},
}

// Rules returns the built-in rules with their default severities, in report
// order. A rule's Link is the README anchor named after its id.
func Rules() []Rule {
	out := make([]Rule, len(builtin))
	for i, r := range builtin {
		r.Link = linkPrefix + r.ID
		out[i] = r
	}
	return out
}
