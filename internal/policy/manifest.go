package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Which rules apply to which kinds of object:
//
//	                                  Deployment  StatefulSet  ReplicaSet  DaemonSet  Job, CronJob  Pod
//	replicas, zone spread, PDB        yes         yes          yes         -          -             replicas only
//	probes                            yes         yes          yes         yes        -             yes
//	resources, non-root, privilege,
//	grace period, hostPath, secrets   yes         yes          yes         yes        yes           yes
//	rolling update                    yes         -            -           -          -             -
//
// A DaemonSet runs one pod per node, so it is spread and replicated by
// construction; Jobs run to completion and are neither probed nor kept at
// two instances. A bare Pod is one instance that nothing restarts
// elsewhere, which the replicas rule reports. Objects that are Helm test
// hooks (helm.sh/hook: test) run from CI, not on the platform, and are not
// checked. PersistentVolumeClaims, StatefulSets and ConfigMaps are checked
// as objects of their own. A render with none of these kinds is a finding
// of its own (manifest-workload-present): otherwise every container rule
// would pass without having looked at a container.

// podTemplate says where each kind keeps its pod; the Pod is its own.
var podTemplate = map[string][]string{
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
	"Pod":                   {},
}

// replicated kinds keep a number of identical pods running.
var replicated = []string{"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}

// batch kinds run to completion.
var batch = []string{"Job", "CronJob"}

// zoneKeys are the node labels that name a data centre.
var zoneKeys = []string{"topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"}

// kubeDefaultGracePeriod is what Kubernetes waits when a pod sets no
// terminationGracePeriodSeconds.
const kubeDefaultGracePeriod = 30

func checkManifests(cfg Config, in Input) []Finding {
	var objects, hpas, pdbs []Object
	for _, o := range in.Objects {
		if isTestHook(o.Object) {
			continue
		}
		objects = append(objects, o)
		switch kindOf(o.Object) {
		case "HorizontalPodAutoscaler":
			hpas = append(hpas, o)
		case "PodDisruptionBudget":
			pdbs = append(pdbs, o)
		}
	}
	out := workloadPresent(in.Chart, objects, len(in.Objects)-len(objects))
	for _, o := range objects {
		m := manifestCheck{cfg: cfg, obj: o, kind: kindOf(o.Object), name: str(o.Object, "metadata", "name")}
		m.checkObject()
		if path, ok := podTemplate[m.kind]; ok {
			m.pod = mapAt(o.Object, path...)
			m.spec = mapAt(m.pod, "spec")
			m.checkPod(hpas, pdbs)
		}
		out = append(out, m.findings...)
	}
	return out
}

// workloadPresent reports a render without a workload, naming what it
// rendered instead (at most a few objects; the rest are counted). objects
// are the rendered objects that are not test hooks.
func workloadPresent(c *Chart, objects []Object, testHooks int) []Finding {
	const shown = 8
	var rendered []string
	for _, o := range objects {
		kind := kindOf(o.Object)
		if _, ok := podTemplate[kind]; ok {
			return nil
		}
		rendered = append(rendered, kind+"/"+str(o.Object, "metadata", "name"))
	}
	what := "nothing"
	switch {
	case len(rendered) > shown:
		what = "only " + strings.Join(rendered[:shown], ", ") + fmt.Sprintf(" and %d more", len(rendered)-shown)
	case len(rendered) > 0:
		what = "only " + strings.Join(rendered, ", ")
	case testHooks > 0:
		what = "only Helm test hooks, which run from CI, not on the platform"
	}
	return []Finding{{Rule: ruleWorkloadPresent, Object: chartName(c),
		Message: "the chart renders " + what + ": no Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod, so the container rules had no pod to check"}}
}

// manifestCheck checks one rendered object.
type manifestCheck struct {
	cfg        Config
	obj        Object
	kind, name string
	pod, spec  map[string]any // the pod (template) and its spec; nil when the kind has none
	findings   []Finding
}

func (m *manifestCheck) add(rule string, problems ...string) {
	if len(problems) == 0 {
		return
	}
	m.findings = append(m.findings, Finding{Rule: rule, Object: m.kind + "/" + m.name, File: m.obj.Template,
		Message: strings.Join(problems, "; ")})
}

// checkObject checks what an object is, whatever its pods do.
func (m *manifestCheck) checkObject() {
	o := m.obj.Object
	switch m.kind {
	case "PersistentVolumeClaim":
		m.add(ruleStateless, "the chart claims a persistent volume, which keeps state outside the image")
	case "StatefulSet":
		m.add(ruleNoStatefulSet, "a StatefulSet gives pods a fixed identity, for state the platform does not allow")
		var claims []string
		for _, t := range listAt(o, "spec", "volumeClaimTemplates") {
			claims = append(claims, str(t, "metadata", "name"))
		}
		if len(claims) > 0 {
			m.add(ruleStateless, "volumeClaimTemplates "+strings.Join(claims, ", ")+" give each pod a persistent volume")
		}
	case "ConfigMap":
		var keys []string
		for k, v := range mapAt(o, "data") {
			if s, _ := v.(string); s != "" && secretName(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			m.add(ruleSecretsByReference, "the ConfigMap holds "+strings.Join(keys, ", ")+" as plain data")
		}
	}
}

// checkPod checks the pod (template) of a workload.
func (m *manifestCheck) checkPod(hpas, pdbs []Object) {
	isReplicated := slices.Contains(replicated, m.kind)
	if isReplicated || m.kind == "Pod" {
		m.add(ruleReplicas, m.replicas(hpas)...)
	}
	if isReplicated {
		m.add(ruleZoneSpread, m.zoneSpread()...)
		m.add(ruleDisruptionBudget, m.disruptionBudget(pdbs)...)
	}
	if !slices.Contains(batch, m.kind) {
		m.add(ruleProbes, m.probes()...)
	}
	m.add(ruleResources, m.resources()...)
	m.add(ruleRunAsNonRoot, m.runAsNonRoot()...)
	m.add(ruleNoPrivilegeEscal, m.privilegeEscalation()...)
	m.add(ruleStateless, m.volumes()...)
	m.add(ruleGracePeriod, m.gracePeriod()...)
	if m.kind == "Deployment" {
		m.add(ruleRollingUpdate, m.rollingUpdate()...)
	}
	m.add(ruleSecretsByReference, m.literalSecrets()...)
}

func (m *manifestCheck) replicas(hpas []Object) []string {
	if m.kind == "Pod" {
		return []string{"a bare Pod is one instance that is not started again elsewhere; run it from a Deployment"}
	}
	want := int64(m.cfg.MinReplicas)
	for _, h := range hpas {
		ref := mapAt(h.Object, "spec", "scaleTargetRef")
		if str(ref, "kind") != m.kind || str(ref, "name") != m.name || namespace(h.Object) != namespace(m.obj.Object) {
			continue
		}
		hmin, ok := asInt(at(h.Object, "spec", "minReplicas"))
		if !ok {
			hmin = 1 // the API's default
		}
		if hmin >= want {
			return nil
		}
		return []string{fmt.Sprintf("HorizontalPodAutoscaler %s keeps only %d instance(s) (minReplicas); at least %d are needed",
			str(h.Object, "metadata", "name"), hmin, want)}
	}
	v := at(m.obj.Object, "spec", "replicas")
	if v == nil {
		return []string{fmt.Sprintf("replicas is not set, so 1 instance runs; at least %d are needed, in different data centres", want)}
	}
	n, ok := asInt(v)
	if !ok {
		return []string{fmt.Sprintf("replicas %v is not a number", v)}
	}
	if n < want {
		return []string{fmt.Sprintf("replicas is %d; at least %d are needed, in different data centres", n, want)}
	}
	return nil
}

func (m *manifestCheck) zoneSpread() []string {
	for _, c := range listAt(m.spec, "topologySpreadConstraints") {
		if slices.Contains(zoneKeys, str(c, "topologyKey")) {
			return nil
		}
	}
	anti := mapAt(m.spec, "affinity", "podAntiAffinity")
	var keys []string
	for _, t := range listAt(anti, "requiredDuringSchedulingIgnoredDuringExecution") {
		keys = append(keys, str(t, "topologyKey"))
	}
	for _, t := range listAt(anti, "preferredDuringSchedulingIgnoredDuringExecution") {
		keys = append(keys, str(t, "podAffinityTerm", "topologyKey"))
	}
	for _, k := range keys {
		if slices.Contains(zoneKeys, k) {
			return nil
		}
	}
	problem := "no topologySpreadConstraint or podAntiAffinity on " + zoneKeys[0] + ", so all instances may run in one data centre"
	if len(keys) > 0 {
		problem += " (podAntiAffinity on " + strings.Join(keys, ", ") + " spreads over nodes, not data centres)"
	}
	return []string{problem}
}

func (m *manifestCheck) disruptionBudget(pdbs []Object) []string {
	labels := mapAt(m.pod, "metadata", "labels")
	for _, p := range pdbs {
		if namespace(p.Object) == namespace(m.obj.Object) && selects(mapAt(p.Object, "spec", "selector"), labels, at(p.Object, "spec", "selector") != nil) {
			return nil
		}
	}
	return []string{"no PodDisruptionBudget selects its pods (labels " + labelString(labels) + "), so a node drain may stop every instance at once"}
}

func (m *manifestCheck) probes() []string {
	var problems []string
	for _, c := range listAt(m.spec, "containers") {
		name := str(c, "name")
		for _, kind := range []string{"readinessProbe", "livenessProbe"} {
			probe := mapAt(c, kind)
			path, _ := at(probe, "httpGet", "path").(string)
			path, _, _ = strings.Cut(path, "?")
			switch {
			case probe == nil:
				problems = append(problems, fmt.Sprintf("container %s has no %s", name, kind))
			case mapAt(probe, "httpGet") == nil:
				problems = append(problems, fmt.Sprintf("container %s's %s is %s, not httpGet", name, kind, probeHandler(probe)))
			case !onPath(path, m.cfg.HealthPath):
				problems = append(problems, fmt.Sprintf("container %s's %s checks %s, not %s", name, kind, orElse(path, "/"), m.cfg.HealthPath))
			}
		}
	}
	return problems
}

// onPath reports whether a probe on path checks the health endpoint: the
// path itself or below it (/healthz/ready, /healthz/live).
func onPath(path, health string) bool {
	return path == health || strings.HasPrefix(path, strings.TrimSuffix(health, "/")+"/")
}

func probeHandler(probe map[string]any) string {
	for _, h := range []string{"exec", "tcpSocket", "grpc"} {
		if _, ok := probe[h]; ok {
			return h
		}
	}
	return "without a handler"
}

func (m *manifestCheck) resources() []string {
	var problems []string
	for _, c := range m.containers() {
		var missing []string
		for _, f := range [][]string{{"requests", "memory"}, {"requests", "cpu"}, {"limits", "memory"}} {
			if v := at(c, append([]string{"resources"}, f...)...); v == nil || v == "" {
				missing = append(missing, strings.Join(f, "."))
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("container %s sets no %s", str(c, "name"), strings.Join(missing, ", ")))
		}
	}
	return problems
}

func (m *manifestCheck) runAsNonRoot() []string {
	podSC := mapAt(m.spec, "securityContext")
	var problems []string
	for _, c := range m.containers() {
		sc := mapAt(c, "securityContext")
		name := str(c, "name")
		if uid, ok := asInt(inherit(sc, podSC, "runAsUser")); ok && uid == 0 {
			problems = append(problems, fmt.Sprintf("container %s runs as runAsUser 0", name))
			continue
		}
		if nonRoot, _ := inherit(sc, podSC, "runAsNonRoot").(bool); !nonRoot {
			problems = append(problems, fmt.Sprintf("container %s does not set runAsNonRoot: true", name))
		}
	}
	return problems
}

func (m *manifestCheck) privilegeEscalation() []string {
	var problems []string
	for _, c := range m.containers() {
		sc := mapAt(c, "securityContext")
		name := str(c, "name")
		if privileged, _ := sc["privileged"].(bool); privileged {
			problems = append(problems, fmt.Sprintf("container %s is privileged", name))
		} else if allow, ok := sc["allowPrivilegeEscalation"].(bool); !ok || allow {
			problems = append(problems, fmt.Sprintf("container %s does not set allowPrivilegeEscalation: false", name))
		}
	}
	return problems
}

// volumes reports volumes that outlive the pod: a node's directory, or a
// persistent volume claim.
func (m *manifestCheck) volumes() []string {
	var problems []string
	for _, v := range listAt(m.spec, "volumes") {
		if p := mapAt(v, "hostPath"); p != nil {
			problems = append(problems, fmt.Sprintf("volume %s mounts %s from the node (hostPath)", str(v, "name"), orElse(str(p, "path"), "a path")))
		}
		if c := mapAt(v, "persistentVolumeClaim"); c != nil {
			problems = append(problems, fmt.Sprintf("volume %s mounts the persistent volume claim %s", str(v, "name"), str(c, "claimName")))
		}
	}
	return problems
}

func (m *manifestCheck) gracePeriod() []string {
	limit := int64(m.cfg.MaxGracePeriod)
	v := at(m.spec, "terminationGracePeriodSeconds")
	if v == nil {
		return []string{fmt.Sprintf("terminationGracePeriodSeconds is not set, so Kubernetes waits %ds; the platform kills pods after %ds",
			kubeDefaultGracePeriod, limit)}
	}
	if n, ok := asInt(v); !ok || n > limit {
		return []string{fmt.Sprintf("terminationGracePeriodSeconds is %v; the platform kills pods after %ds", v, limit)}
	}
	return nil
}

func (m *manifestCheck) rollingUpdate() []string {
	strategy := mapAt(m.obj.Object, "spec", "strategy")
	if t := str(strategy, "type"); t != "" && t != "RollingUpdate" {
		return []string{fmt.Sprintf("strategy %s stops every instance before starting new ones", t)}
	}
	ru := mapAt(strategy, "rollingUpdate")
	unavailable := at(ru, "maxUnavailable")
	if unavailable == nil {
		return []string{"rollingUpdate.maxUnavailable is not set, so Kubernetes' default 25% of the instances may be down during a rollout"}
	}
	if !isZero(unavailable) {
		return []string{fmt.Sprintf("rollingUpdate.maxUnavailable is %v; it must be 0", unavailable)}
	}
	if surge := at(ru, "maxSurge"); surge != nil && isZero(surge) {
		return []string{"rollingUpdate.maxSurge and maxUnavailable are both 0, so the rollout cannot progress"}
	}
	return nil
}

func (m *manifestCheck) literalSecrets() []string {
	var problems []string
	for _, c := range m.containers() {
		for _, e := range listAt(c, "env") {
			name := str(e, "name")
			if v, _ := at(e, "value").(string); v != "" && secretName(name) {
				problems = append(problems, fmt.Sprintf("container %s sets %s to a literal value", str(c, "name"), name))
			}
		}
	}
	return problems
}

// containers returns the init containers and the containers of the pod.
func (m *manifestCheck) containers() []any {
	return append(slices.Clone(listAt(m.spec, "initContainers")), listAt(m.spec, "containers")...)
}

// secretWords mark an environment variable or ConfigMap key as a secret;
// notSecretLast are last words that make it a setting about a secret
// instead (TOKEN_URL, API_KEY_ID, JWT_SECRET_FILE).
var (
	secretWords = []string{"PASSWORD", "PASSWD", "PWD", "PASS", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY",
		"KEY", "CREDENTIAL", "CREDENTIALS", "PRIVATE", "AUTH"}
	notSecretLast = []string{"URL", "URI", "HOST", "PORT", "PATH", "FILE", "DIR", "ID", "NAME", "USER", "USERNAME",
		"HEADER", "ENDPOINT", "TTL", "TIMEOUT", "EXPIRY", "EXPIRATION", "LENGTH", "SIZE", "ALGORITHM", "TYPE",
		"ENABLED", "REF", "ALIAS", "LOCATION", "ISSUER", "AUDIENCE", "FORMAT", "SECONDS", "MODE", "STORE",
		"PREFIX", "SUFFIX"}
)

// secretName reports whether a variable or key name looks like it holds a
// secret: DB_PASSWORD, apiKey, jwt.secret; not PUBLIC_KEY or TOKEN_URL.
func secretName(name string) bool {
	words := nameWords(name)
	if len(words) == 0 || name == "PWD" || slices.Contains(words, "PUBLIC") || slices.Contains(notSecretLast, words[len(words)-1]) {
		return false
	}
	for _, w := range words {
		if slices.Contains(secretWords, w) {
			return true
		}
	}
	return false
}

// nameWords splits DB_PASSWORD, dbPassword and db.password into upper-case
// words.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToUpper(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			cur = append(cur, r)
		}
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
	}
	flush()
	return words
}

// selects reports whether a label selector matches labels. An empty
// selector matches every pod (policy/v1); a missing one matches none.
func selects(sel, labels map[string]any, present bool) bool {
	if !present {
		return false
	}
	for k, v := range mapAt(sel, "matchLabels") {
		if lv, ok := labels[k]; !ok || fmt.Sprint(lv) != fmt.Sprint(v) {
			return false
		}
	}
	for _, e := range listAt(sel, "matchExpressions") {
		v, has := labels[str(e, "key")]
		var values []string
		for _, x := range listAt(e, "values") {
			values = append(values, fmt.Sprint(x))
		}
		in := has && slices.Contains(values, fmt.Sprint(v))
		switch str(e, "operator") {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func labelString(labels map[string]any) string {
	if len(labels) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range labels {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func isTestHook(o map[string]any) bool {
	hook := str(o, "metadata", "annotations", "helm.sh/hook")
	return strings.HasPrefix(hook, "test")
}

func kindOf(o map[string]any) string    { return str(o, "kind") }
func namespace(o map[string]any) string { return str(o, "metadata", "namespace") }

// inherit returns key from the container's security context, else from
// the pod's.
func inherit(container, pod map[string]any, key string) any {
	if v, ok := container[key]; ok && v != nil {
		return v
	}
	return pod[key]
}

// isZero reports whether an int-or-percent is 0 or "0%".
func isZero(v any) bool {
	if n, ok := asInt(v); ok {
		return n == 0
	}
	s, _ := v.(string)
	s = strings.TrimSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.ParseFloat(s, 64)
	return err == nil && n == 0
}

// Walking decoded YAML or JSON: maps of string to any, lists of any.

func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func mapAt(v any, keys ...string) map[string]any {
	m, _ := at(v, keys...).(map[string]any)
	return m
}

func listAt(v any, keys ...string) []any {
	l, _ := at(v, keys...).([]any)
	return l
}

func str(v any, keys ...string) string {
	s, _ := at(v, keys...).(string)
	return s
}

// asInt reads a whole number however the decoder typed it.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), n <= 1<<62
	case float64:
		return int64(n), n == float64(int64(n))
	case interface{ Int64() (int64, error) }: // json.Number
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}
