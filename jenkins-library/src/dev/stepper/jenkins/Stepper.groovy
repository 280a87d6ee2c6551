package dev.stepper.jenkins

/**
 * Runs one stepper verb from a pipeline: settings, the verified binary,
 * the credentials bound for this run only, `stepper VERB --result FILE`,
 * the result read back, JUnit published, and the exit code turned into
 * the build's result (see ExitCode).
 *
 * It holds the pipeline script it was made with (`new Stepper(this)` in a
 * global variable) and calls the pipeline's steps through it; it keeps no
 * other state across steps, so the CPS engine can save and resume it.
 */
class Stepper implements Serializable {
    private static final long serialVersionUID = 1L

    /** COMMON: the keys every stepper* global variable takes, and their defaults. */
    static final Map COMMON = [
        result        : null,        // --result FILE; default stepper-<verb>.json
        junit         : null,        // --junit FILE, published with the junit step (validate, smoke-test, promote)
        config        : null,        // --config FILE: the vendor's stepper.yaml
        platformConfig: null,        // --platform-config FILE: the platform's rules, which stepper.yaml cannot widen
        profile       : null,        // --profile NAME
        configSet     : [],          // --config-set KEY=VALUE, repeated; never a secret (stepper refuses literal secrets)
        logLevel      : null,        // --log-level
        dryRun        : false,       // --dry-run
        args          : [],          // further flags, as written; never a secret
        credentials   : Credentials.NONE, // credential ids to bind for this run (see Credentials.KINDS)
        binary        : Binary.DEFAULTS,  // which stepper runs (see Binary)
        onFailed      : 'FAILURE',   // what exit 1 does to the build: FAILURE, UNSTABLE, or RETURN (the caller decides)
    ].asImmutable()

    /** RUN_KEYS: the settings a pipeline hands to every stepper run (and `stepper config show` understands). */
    static final List<String> RUN_KEYS = ['config', 'platformConfig', 'profile', 'configSet', 'logLevel', 'binary'].asImmutable()

    private final def steps

    Stepper(steps) {
        this.steps = steps
    }

    /**
     * settings is args laid over COMMON and defaults; an unknown key, a
     * bad onFailed, or an unknown credential kind fails the build before
     * anything runs.
     */
    Map settings(String step, Map defaults, Map args) {
        Map all = Settings.combine(COMMON, defaults)
        List<String> problems = Settings.problems(step, all, args)
        Map s = Settings.merge(all, args)
        if (!ExitCode.ON_FAILED.contains(s.onFailed)) {
            problems << "${step}: onFailed is ${s.onFailed}; use one of ${ExitCode.ON_FAILED.join(', ')}".toString()
        }
        if (problems) {
            steps.error(problems.join('\n'))
        }
        return s
    }

    /** run runs `stepper VERB` and returns its result file as a Map. */
    Map run(String verb, Map defaults, Map args) {
        Map s = settings(verb.replace(' ', '-'), defaults, args)
        if (!s.result) {
            s.result = "stepper-${verb.replace(' ', '-')}.json".toString()
        }
        String dir = install((Map) s.binary)
        String line = Command.line(Command.argv(verb, s))
        String clean = Command.line(['rm', '-f', '--', (String) s.result] + (s.junit ? [(String) s.junit] : []))
        Map ids = (Map) s.credentials
        int code = 0
        steps.withEnv(["PATH+STEPPER=${dir}".toString()] + Credentials.references(ids)) {
            bind(ids) {
                code = steps.sh(script: clean + '\n' + line, returnStatus: true, label: "stepper ${verb}".toString()) as int
            }
        }
        Map result = read(verb, (String) s.result, code)
        if (s.junit && steps.fileExists((String) s.junit)) {
            steps.junit(testResults: s.junit, allowEmptyResults: true, skipMarkingBuildUnstable: s.onFailed == 'RETURN')
        }
        conclude(verb, code, result, (String) s.onFailed)
        return result
    }

    /** configShow returns `stepper config show --output json`: the effective configuration, secrets masked. */
    Map configShow(Map args) {
        Map s = settings('config show', [:], args)
        Map only = [:]
        for (String k in RUN_KEYS) {
            only[k] = s[k]
        }
        String dir = install((Map) s.binary)
        String out = ''
        steps.withEnv(["PATH+STEPPER=${dir}".toString()]) {
            out = steps.sh(script: Command.line(Command.argv('config show', only) + ['--output=json']), returnStdout: true,
                label: 'stepper config show') as String
        }
        return (Map) steps.readJSON(text: out, returnPojo: true)
    }

    /** install finds or downloads the pinned binary, verifies it, and returns the directory that holds it. */
    String install(Map binary) {
        Map resource = (Map) steps.readJSON(text: steps.libraryResource(Binary.RESOURCE), returnPojo: true)
        Map pin = Binary.pin(resource, binary)
        String problem = Binary.problem(pin)
        if (problem) {
            steps.error(problem)
        }
        String out = steps.sh(script: Binary.script(pin), returnStdout: true, label: "stepper ${pin.version}: find and verify the binary".toString()) as String
        return Binary.directory(out)
    }

    /** bind runs body with the credentials of ids bound, and their file references set. */
    void bind(Map ids, Closure body) {
        List<Map> specs = Credentials.bindings(ids)
        if (!specs) {
            body()
            return
        }
        List bindings = []
        for (int i = 0; i < specs.size(); i++) {
            bindings << binding(specs[i])
        }
        steps.withCredentials(bindings) {
            Map paths = [:]
            List<String> vars = Credentials.fileVariables(ids)
            for (int i = 0; i < vars.size(); i++) {
                paths[vars[i]] = steps.env.getProperty(vars[i])
            }
            steps.withEnv(Credentials.fileReferences(ids, paths)) {
                body()
            }
        }
    }

    /** binding is the Jenkins binding of one spec of Credentials.bindings. */
    def binding(Map spec) {
        Map args = [credentialsId: spec.credentialsId]
        for (String k in Credentials.ARGS) {
            if (spec[k]) {
                args[k] = spec[k]
            }
        }
        switch (spec.type) {
            case 'file': return steps.file(args)
            case 'string': return steps.string(args)
            case 'usernamePassword': return steps.usernamePassword(args)
            case 'gitUsernamePassword': return steps.gitUsernamePassword(args)
            case 'sshUserPrivateKey': return steps.sshUserPrivateKey(args)
        }
        steps.error("stepper: no binding for credentials of type ${spec.type}")
    }

    /** read reads the result file back; a run that wrote none gets a result that says so. */
    Map read(String verb, String file, int code) {
        String text = steps.fileExists(file) ? steps.readFile(file: file) as String : ''
        if (text.trim()) {
            return (Map) steps.readJSON(text: text, returnPojo: true)
        }
        return [step: verb, status: ExitCode.status(code), exitCode: code,
                error: "stepper ${verb} wrote no result file (exit ${code}, ${ExitCode.meaning(code)}); its log above says why".toString()]
    }

    /** conclude sets the build's result from the exit code: FAILURE and ABORTED stop the pipeline. */
    void conclude(String verb, int code, Map result, String onFailed) {
        String r = ExitCode.buildResult(code, onFailed)
        if (r == null) {
            return
        }
        String message = ExitCode.describe(verb, code, result)
        if (r == 'UNSTABLE') {
            steps.unstable(message)
            return
        }
        if (r == 'ABORTED') {
            steps.currentBuild.result = 'ABORTED'
        }
        steps.error(message)
    }
}
