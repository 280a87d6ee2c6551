import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// stepperDeploy(Map): `stepper deploy`, the help is stepperDeploy.txt.
// Each key is the flag of the same name in camelCase (chartVersion is --chart-version);
// Stepper.COMMON adds the keys every stepper* variable takes.
@Field static final Map DEFAULTS = [
    env              : null,  // GitOps: the chain's first environment; --apply: any
    app              : null,
    image            : null,
    fromResult       : null,
    chartVersion     : null,
    set              : [:],
    values           : [],
    message          : null,
    force            : false,
    releaseHold      : false,
    apply            : false, // apply the desired state to the cluster (credentials.kubeconfig)
    state            : null,
    kubeconfig       : null,  // a path; credentials.kubeconfig binds a secret file as KUBECONFIG instead
    kubeContext      : null,
    rollbackOnFailure: false,
    includeProtected : false,
    wait             : null,  // true --wait, false --no-wait, null stepper's default
    timeout          : null,
].asImmutable()

Map call(Map args = [:]) {
    return new Stepper(this).run('deploy', DEFAULTS, args)
}
