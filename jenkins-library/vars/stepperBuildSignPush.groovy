import dev.stepper.jenkins.Command
import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// stepperBuildSignPush(Map): `stepper build-sign-push`, the help is stepperBuildSignPush.txt.
// Each key is the flag of the same name in camelCase (allowRetag is --allow-retag);
// Stepper.COMMON adds the keys every stepper* variable takes (result, config,
// platformConfig, configSet, credentials, binary, onFailed, ...).
@Field static final Map DEFAULTS = [
    phase        : null,  // all (stepper's default), build (no key needed), or sign (with fromResult)
    app          : null,  // default: the CI project's name
    context      : null,
    file         : null,
    image        : null,
    tag          : [],
    allowRetag   : false,
    builder      : null,  // auto, buildah, docker, kaniko or layers
    buildArg     : [:],   // KEY: VALUE; a name that looks like a credential is refused (it would be in the log)
    platform     : null,
    base         : null,
    layer        : [],
    user         : null,
    entrypoint   : null,
    cmd          : null,
    env          : [],    // KEY=VALUE for the image (--builder layers)
    workdir      : null,
    expose       : [],
    label        : [:],
    fromOciLayout: null,
    fromTarball  : null,
    digest       : null,
    fromResult   : null,
    dotenv       : null,
].asImmutable()

Map call(Map args = [:]) {
    List<String> secretLooking = Command.secretLooking((Map) (args?.buildArg ?: [:]))
    if (secretLooking) {
        error("stepperBuildSignPush: buildArg ${secretLooking.join(', ')} looks like a credential: its value would be in " +
            'the command line and the build log; stepper cannot take a build argument from the environment yet')
    }
    return new Stepper(this).run('build-sign-push', DEFAULTS, args)
}
