import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// stepperSmokeTest(Map): `stepper smoke-test`, the help is stepperSmokeTest.txt.
// Each key is the flag of the same name in camelCase (healthPath is --health-path);
// Stepper.COMMON adds the keys every stepper* variable takes.
@Field static final Map DEFAULTS = [
    junit            : 'stepper-smoke-test.xml', // a test case per check; published with junit
    env              : null,
    app              : null,
    url              : null,
    state            : null,
    check            : [],    // 'PATH [status=N] [method=M] [body=TEXT] [json=FIELD=VALUE]', repeated
    healthPath       : [],
    b3Path           : null,
    b3Listen         : null,
    soak             : null,
    wait             : null,  // true --wait, false --no-wait, null stepper's default
    namespace        : null,
    kubeconfig       : null,
    kubeContext      : null,
    image            : null,
    fromResult       : null,
    requestTimeout   : null,
    timeout          : null,
    rollbackOnFailure: false,
    noEvidence       : false, // evidence is signed with signing.evidenceKey (credentials.evidenceKey)
].asImmutable()

Map call(Map args = [:]) {
    return new Stepper(this).run('smoke-test', DEFAULTS, args)
}
