import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// stepperPromote(Map): `stepper promote`, the help is stepperPromote.txt.
// Each key is the flag of the same name in camelCase (waitTimeout is --wait-timeout);
// Stepper.COMMON adds the keys every stepper* variable takes.
@Field static final Map DEFAULTS = [
    junit      : 'stepper-promote.xml', // a test case per gate; published with junit
    app        : null,
    all        : false,
    from       : null,
    to         : null,   // default: the next environment of the chain; any other is refused
    digest     : null,   // the digest expected in from: refused if from runs another
    hotfix     : false,
    wait       : false,  // merge-request route: wait until merged or closed
    waitTimeout: null,
    history    : false,
    env        : null,
    depth      : null,
].asImmutable()

Map call(Map args = [:]) {
    return new Stepper(this).run('promote', DEFAULTS, args)
}
