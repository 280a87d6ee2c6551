import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// stepperRollback(Map): `stepper rollback`, the help is stepperRollback.txt.
// Each key is the flag of the same name in camelCase (toCommit is --to-commit);
// Stepper.COMMON adds the keys every stepper* variable takes.
@Field static final Map DEFAULTS = [
    env           : null,
    app           : null,
    reason        : null,  // required by stepper: why, for the commit, the result and the audit record
    to            : null,  // an earlier release: image tag, chart version or digest
    toCommit      : null,
    toRevision    : null,  // with apply: the Helm revision
    previous      : false,
    history       : false,
    depth         : null,
    withMigrations: false,
    apply         : false, // roll the Helm release back in the cluster (credentials.kubeconfig)
    namespace     : null,
    kubeconfig    : null,
    kubeContext   : null,
    timeout       : null,
].asImmutable()

Map call(Map args = [:]) {
    return new Stepper(this).run('rollback', DEFAULTS, args)
}
