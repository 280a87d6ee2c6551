import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// stepperValidate(Map): `stepper validate`, the help is stepperValidate.txt.
// Each key is the flag of the same name in camelCase (fromResult is --from-result);
// Stepper.COMMON adds the keys every stepper* variable takes.
@Field static final Map DEFAULTS = [
    junit       : 'stepper-validate.xml', // a test suite per app, a test case per rule; published with junit
    image       : null,
    fromResult  : null,
    chart       : null,
    chartVersion: null,
    values      : [],
    set         : [:],
    env         : null,
    app         : null,
    all         : false,
    state       : null,
    policy      : null,
    runtime     : false,
    codeQuality : null,
    attest      : false,  // sign the verdict with signing.evidenceKey (credentials.evidenceKey); promote needs it
].asImmutable()

Map call(Map args = [:]) {
    return new Stepper(this).run('validate', DEFAULTS, args)
}
