package harness

import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import hudson.AbortException
import hudson.model.Result
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * A small stand-in for a Jenkins pipeline run: it loads the library's
 * global variables the way Jenkins does (vars/NAME.groovy, its call method)
 * and answers the pipeline steps they use with the behaviour Jenkins
 * documents:
 *
 * - sh: runs under `sh -xe`; returnStatus returns the exit code, returnStdout
 *   the output; otherwise a non-zero exit fails with "script returned exit code N".
 *   Scripts are answered by handlers (onSh), or really run (realShell).
 * - withCredentials: binds string, file, usernamePassword and
 *   gitUsernamePassword credentials from the store for the block only (a
 *   file's temporary copy is deleted after it); an unknown id or a wrong
 *   type fails like the Credentials Binding plugin.
 * - input: only a user named in submitter, a member of a group named there,
 *   or an administrator can proceed (pipeline-input-step); anyone else's
 *   answer is refused and the input keeps waiting. Abort ends the build
 *   ABORTED. With submitterParameter and no parameters it returns the
 *   approver's id. An input nobody allowed answers ends ABORTED, as a
 *   timeout would.
 * - lock: one holder per resource; stage, node, dir, timeout run their body.
 * - junit: reads the report; failures make the build UNSTABLE unless
 *   skipMarkingBuildUnstable. readJSON (returnPojo: true only), readFile,
 *   writeFile, fileExists, libraryResource, stash/unstash, archiveArtifacts.
 * - currentBuild: the result only gets worse (SUCCESS < UNSTABLE < FAILURE <
 *   NOT_BUILT < ABORTED); error fails with its message; unstable marks the
 *   build UNSTABLE; catchError as workflow-basic-steps' CatchErrorStep.
 * - properties, parameters, choice, string, booleanParam, params.
 * - pipeline: declarative pipelines (agent, options, stages, stage, steps,
 *   script, post), see Declarative.
 *
 * Every step call is recorded with the stage, the locks held and the
 * credential variables bound at that moment, and every line written to
 * the log is kept, so that tests can assert what ran, where, and that no
 * secret was ever written.
 */
class Harness {
    final File libDir
    final File workspace
    final Binding binding = new Binding()
    final GroovyShell shell

    /** Every step call: [step, args, stage, locks, bound, node]. */
    final List<Map> calls = []
    /** The console, unmasked: tests look for secrets in it. */
    final List<String> log = []
    /** sh handlers: [pattern, closure], newest first. */
    private final List<List> shHandlers = []
    /** Credentials by id: [type, secret | username, password | content]. */
    final Map<String, Map> credentialStore = [:]
    /** Every secret value bound so far. */
    final Set<String> secrets = new LinkedHashSet<String>()
    /** Users: id → [groups, admin, cancel]. */
    final Map<String, Map> users = [:]
    /** Answers to input steps, in order: [user, action: proceed|abort, values]. */
    final List<Map> answers = []
    /** What happened at each input: [message, submitter, refused: [users], approver]. */
    final List<Map> inputs = []
    /** Locks held now, and every acquisition in order. */
    final List<String> locksHeld = []
    final List<String> lockLog = []
    /** Resources another build holds: its name; lock waits for it (the other build ends first). */
    final Map<String, String> heldElsewhere = [:]
    final List<String> stages = []
    final Map<String, String> stashes = [:]
    final List<Map> junitReports = []
    final List<Object> jobProperties = []
    File resourcesDir
    /** Run sh scripts for real (the end-to-end run) instead of asking the handlers. */
    boolean realShell = false
    String node = null
    File cwd

    final Env env = new Env()
    final Build currentBuild = new Build(this)
    final Map<String, List<String>> boundNow = [:]

    Harness(File libDir, File workspace = null) {
        this.libDir = libDir
        this.workspace = workspace ?: File.createTempDir('harness-ws', '')
        this.cwd = this.workspace
        this.resourcesDir = new File(libDir, 'resources')
        GroovyClassLoader loader = new GroovyClassLoader(Harness.classLoader)
        loader.addClasspath(new File(libDir, 'src').absolutePath)
        this.shell = new GroovyShell(loader, binding)
        env.putAll([
            WORKSPACE  : this.workspace.absolutePath,
            JOB_NAME   : 'test-job',
            BUILD_NUMBER: '1',
            BUILD_URL  : 'https://jenkins.example/job/test-job/1/',
            JENKINS_URL: 'https://jenkins.example/',
            HOME       : System.getProperty('user.home'),
            PATH       : System.getenv('PATH'),
        ])
        binding.setVariable('env', env)
        binding.setVariable('params', [:].asImmutable())
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('scm', [kind: 'scm'])
        registerSteps()
    }

    // ---- loading the library ----------------------------------------------------------

    /** loadVars loads every vars/NAME.groovy as the global variable NAME. */
    Harness loadVars() {
        new File(libDir, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.sort { it.name }.each { File f ->
            String name = f.name - '.groovy'
            Script s = shell.parse(f)
            s.binding = binding
            binding.setVariable(name, { Object[] a -> s.invokeMethod('call', a) })
        }
        return this
    }

    /** params sets the build's parameters, as Jenkins hands them to the run (read-only). */
    Harness params(Map p) {
        binding.setVariable('params', new LinkedHashMap(p).asImmutable())
        p.each { k, v -> env[k] = v == null ? null : v.toString() }
        return this
    }

    Harness user(Map opts = [:], String id) {
        users[id] = [groups: opts.groups ?: [], admin: opts.admin ?: false, cancel: opts.cancel ?: false]
        return this
    }

    Harness answer(Map a) {
        answers << a
        return this
    }

    Harness credential(String id, Map c) {
        credentialStore[id] = c
        return this
    }

    /** onSh answers scripts that contain a match of pattern: handler gets the call and returns [status, stdout, result, junit] or an int. */
    Harness onSh(String pattern, Closure handler) {
        shHandlers.add(0, [~pattern, handler])
        return this
    }

    /** run runs body as the pipeline and returns the build's result. */
    String run(Closure body) {
        body.delegate = new Globals(binding)
        try {
            body()
        } catch (FlowInterruptedException e) {
            currentBuild.setResult(e.result.toString())
            logLine("Finished: ${e.result} (${e.message})")
            lastError = e
        } catch (Throwable e) {
            currentBuild.setResult('FAILURE')
            logLine("ERROR: ${e.message}")
            lastError = e
        }
        return currentBuild.currentResult
    }

    Throwable lastError

    /** call runs the global variable name with args as the whole pipeline and returns the build's result. */
    String call(String name, Map args = [:]) {
        return run { -> binding.getVariable(name).call(args) }
    }

    // ---- what ran --------------------------------------------------------------------------

    List<Map> shCalls() {
        return calls.findAll { it.step == 'sh' }
    }

    /** stepperCalls are the sh calls that ran stepper, with the stepper line as .line. */
    List<Map> stepperCalls() {
        List<Map> out = []
        shCalls().each { Map c ->
            c.script.readLines().findAll { it.startsWith('stepper ') }.each { out << (c + [line: it]) }
        }
        return out
    }

    /** commands are the stepper command lines, in order. */
    List<String> commands() {
        return stepperCalls().collect { it.line }
    }

    List<Map> callsOf(String step) {
        return calls.findAll { it.step == step }
    }

    // ---- the steps ----------------------------------------------------------------------------

    private void registerSteps() {
        def steps = [
            sh                 : { args -> sh(args) },
            echo               : { String m -> record('echo', [message: m]); logLine(m) },
            error              : { String m -> record('error', [message: m]); logLine("ERROR: ${m}"); throw new AbortException(m) },
            unstable           : { m -> String msg = m instanceof Map ? m.message : m; record('unstable', [message: msg]); logLine("WARNING: ${msg}"); currentBuild.setResult('UNSTABLE') },
            withCredentials    : { List b, Closure body -> withCredentials(b, body) },
            withEnv            : { List e, Closure body -> withEnv(e, body) },
            string             : { Map a -> a.credentialsId ? [binding: 'string'] + a : [parameter: 'string'] + a },
            file               : { Map a -> [binding: 'file'] + a },
            usernamePassword   : { Map a -> [binding: 'usernamePassword'] + a },
            gitUsernamePassword: { Map a -> [binding: 'gitUsernamePassword'] + a },
            sshUserPrivateKey  : { Map a -> [binding: 'sshUserPrivateKey'] + a },
            choice             : { Map a -> [parameter: 'choice'] + a },
            booleanParam       : { Map a -> [parameter: 'booleanParam'] + a },
            parameters         : { List l -> [property: 'parameters', definitions: l] },
            disableConcurrentBuilds: { Object[] a -> [property: 'disableConcurrentBuilds'] },
            properties         : { List l -> record('properties', [properties: l]); jobProperties.clear(); jobProperties.addAll(l) },
            input              : { Map a -> input(a) },
            lock               : { a, Closure body -> lock(a, body) },
            stage              : { String name, Closure body -> stage(name, body) },
            node               : { Object[] a -> node(a) },
            dir                : { String d, Closure body -> dir(d, body) },
            timeout            : { Map a, Closure body -> record('timeout', a); body() },
            junit              : { a -> junit(a instanceof Map ? a : [testResults: a]) },
            readJSON           : { Map a -> readJSON(a) },
            readFile           : { a -> String f = a instanceof Map ? a.file : a; record('readFile', [file: f]); new File(cwd, f).text },
            writeFile          : { Map a -> record('writeFile', [file: a.file]); File f = new File(cwd, a.file); f.parentFile.mkdirs(); f.text = a.text },
            fileExists         : { String f -> new File(cwd, f).exists() },
            libraryResource    : { String p -> record('libraryResource', [resource: p]); new File(resourcesDir, p).text },
            stash              : { Map a -> record('stash', a); stashes[a.name] = a.includes },
            unstash            : { String n -> record('unstash', [name: n]); if (!stashes.containsKey(n)) { throw new AbortException("No such saved stash ‘${n}’") } },
            archiveArtifacts   : { a -> record('archiveArtifacts', a instanceof Map ? a : [artifacts: a]) },
            checkout           : { a -> record('checkout', [scm: a]) },
            catchError         : { Map a, Closure body -> catchError(a, body) },
            isUnix             : { -> true },
            script             : { Closure body -> body() },
            pipeline           : { Closure body -> new Declarative(this).run(body) },
        ]
        steps.each { String name, Closure c -> binding.setVariable(name, c) }
    }

    Map record(String step, Map args) {
        Map c = [step: step, args: args, stage: stages ? stages[-1] : null, stages: new ArrayList(stages),
                 locks: new ArrayList(locksHeld), bound: boundNow.values().flatten(), node: node]
        calls << c
        return c
    }

    void logLine(Object line) {
        line.toString().readLines().each { log << it }
        if (System.getenv('HARNESS_VERBOSE')) {
            System.err.println("  | ${line}")
        }
    }

    // sh: `sh -xe`, answered by handlers or run for real.
    def sh(args) {
        Map a = args instanceof Map ? args : [script: args]
        Map c = record('sh', a)
        c.script = a.script
        c.env = new LinkedHashMap(env.vars)
        a.script.readLines().each { logLine("+ ${it}") }
        Map out = realShell ? runReal(a.script) : handle(c)
        int status = out.status ?: 0
        String stdout = out.stdout ?: ''
        c.status = status
        if (!a.returnStdout && stdout) {
            logLine(stdout)
        }
        if (a.returnStatus) {
            return status
        }
        if (status != 0) {
            throw new AbortException("script returned exit code ${status}")
        }
        return a.returnStdout ? stdout : null
    }

    private Map handle(Map c) {
        for (List h in shHandlers) {
            if (c.script =~ h[0]) {
                def r = ((Closure) h[1]).call(c)
                Map out = r instanceof Map ? r : [status: r as int]
                writeOutputs(c.script, out)
                return out
            }
        }
        Map out = defaultAnswer(c.script)
        writeOutputs(c.script, out)
        return out
    }

    /** defaultAnswer: the binary is found at /opt/stepper; stepper succeeds and writes a plain result. */
    private Map defaultAnswer(String script) {
        if (script.contains('find and verify') || script.startsWith('set -eu\nversion=')) {
            return [stdout: '/opt/stepper\n']
        }
        String line = script.readLines().find { it.startsWith('stepper ') }
        if (line) {
            List words = line.tokenize(' ')
            return [status: 0, result: [step: words[1], status: 'succeeded', exitCode: 0]]
        }
        return [status: 0]
    }

    /** writeOutputs writes the result and JUnit files a handler's answer carries, where the command line says. */
    private void writeOutputs(String script, Map out) {
        String line = script.readLines().find { it.startsWith('stepper ') }
        if (!line) {
            return
        }
        def result = out.result
        String resultFile = flagValue(line, '--result')
        if (result != null && resultFile) {
            Map r = [exitCode: out.status ?: 0] + (Map) result
            new File(cwd, resultFile).text = JsonOutput.toJson(r)
        }
        String junitFile = flagValue(line, '--junit')
        if (out.junit && junitFile) {
            new File(cwd, junitFile).text = out.junit
        }
    }

    static String flagValue(String line, String flag) {
        def m = line =~ /(?:^| )${flag}=('[^']*'|\S+)/
        if (!m.find()) {
            return null
        }
        String v = m.group(1)
        return v.startsWith("'") ? v[1..-2] : v
    }

    /** runReal runs script with `sh -xe` in the current directory and the build's environment. */
    private Map runReal(String script) {
        File f = File.createTempFile('script', '.sh', workspace.parentFile)
        f.text = script
        ProcessBuilder pb = new ProcessBuilder('sh', '-xe', f.absolutePath).directory(cwd)
        pb.environment().clear()
        env.vars.each { k, v -> if (v != null) { pb.environment()[k] = v.toString() } }
        Process p = pb.start()
        StringBuilder out = new StringBuilder()
        Thread err = Thread.start { p.errorStream.eachLine { logLine(it) } }
        p.inputStream.eachLine { out.append(it).append('\n') }
        int status = p.waitFor()
        err.join()
        f.delete()
        return [status: status, stdout: out.toString()]
    }

    def withEnv(List<String> entries, Closure body) {
        record('withEnv', [env: entries])
        Map saved = [:]
        entries.each { String e ->
            int eq = e.indexOf('=')
            String k = e.substring(0, eq), v = e.substring(eq + 1)
            if (k.contains('+')) {
                String base = k.substring(0, k.indexOf('+'))
                saved.put(base, saved.containsKey(base) ? saved[base] : env.vars[base])
                env.vars[base] = v + (env.vars[base] ? ':' + env.vars[base] : '')
            } else {
                saved.put(k, saved.containsKey(k) ? saved[k] : env.vars[k])
                env.vars[k] = v
            }
        }
        try {
            return body()
        } finally {
            saved.each { k, v -> if (v == null) { env.vars.remove(k) } else { env.vars[k] = v } }
        }
    }

    def withCredentials(List bindings, Closure body) {
        Map c = record('withCredentials', [bindings: bindings.collect { it.findAll { k, v -> k != 'binding' } + [type: it.binding] }])
        Map saved = [:]
        List<File> files = []
        String scope = "withCredentials#${calls.size()}"
        List<String> names = []
        bindings.each { Map b ->
            Map cred = credentialStore[b.credentialsId]
            if (cred == null) {
                throw new AbortException("Could not find credentials entry with ID '${b.credentialsId}'")
            }
            String want = b.binding == 'gitUsernamePassword' ? 'usernamePassword' : b.binding
            if (cred.type != want) {
                throw new AbortException("Credentials '${b.credentialsId}' is of type '${cred.type}' where '${want}' was expected")
            }
            Map vars = [:]
            switch (b.binding) {
                case 'string':
                    vars[b.variable] = cred.secret
                    secrets << cred.secret
                    break
                case 'file':
                    vars[b.variable] = secretFile(files, cred.fileName ?: 'secret', cred.content)
                    secrets << cred.content.trim()
                    break
                case 'sshUserPrivateKey':
                    vars[b.keyFileVariable] = secretFile(files, 'ssh-key', cred.content)
                    secrets << cred.content.trim()
                    break
                case 'usernamePassword':
                    vars[b.usernameVariable] = cred.username
                    vars[b.passwordVariable] = cred.password
                    secrets << cred.password
                    break
                case 'gitUsernamePassword':
                    String askpass = secretFile(files, 'askpass.sh', "case \$1 in\n Username*) echo ${cred.username} ;;\n Password*) echo ${cred.password} ;;\nesac\n")
                    new File(askpass).setExecutable(true)
                    vars.GIT_USERNAME = cred.username
                    vars.GIT_PASSWORD = cred.password
                    vars.GIT_ASKPASS = askpass
                    vars.GIT_TERMINAL_PROMPT = 'false'
                    secrets << cred.password
                    break
                default:
                    throw new AbortException("no such binding: ${b.binding}")
            }
            vars.each { k, v ->
                saved.put(k, saved.containsKey(k) ? saved[k] : env.vars[k])
                env.vars[k] = v
                names << k
            }
        }
        boundNow[scope] = names
        c.variables = names
        try {
            return body()
        } finally {
            boundNow.remove(scope)
            saved.each { k, v -> if (v == null) { env.vars.remove(k) } else { env.vars[k] = v } }
            files.each { it.deleteDir() }
        }
    }

    /** secretFile writes a bound secret file under WORKSPACE@tmp, as the binding plugin does, and returns its path; dirs get it removed after the block. */
    private String secretFile(List<File> dirs, String name, String content) {
        File dir = new File(workspace.absolutePath + '@tmp', "secretFiles/${UUID.randomUUID()}")
        dir.mkdirs()
        dirs << dir
        File f = new File(dir, name)
        f.text = content
        return f.absolutePath
    }

    def input(Map a) {
        record('input', a)
        Map at = [message: a.message, submitter: a.submitter, refused: [], approver: null]
        inputs << at
        logLine(a.message)
        Set<String> allowed = a.submitter ? a.submitter.split(',').collect { it.trim() }.findAll { it } as Set : null
        while (answers) {
            Map r = answers.remove(0)
            Map u = users[r.user] ?: [groups: [], admin: false, cancel: false]
            boolean canSubmit = allowed == null || u.admin || allowed.contains(r.user) || u.groups.any { allowed.contains(it) }
            if (r.action == 'abort') {
                if (!canSubmit && !u.cancel) {
                    at.refused << r.user
                    logLine("${r.user}: You need to be '${a.submitter}' (or have Job CANCEL permissions) to cancel this.")
                    continue
                }
                logLine("Rejected by ${r.user}")
                throw new FlowInterruptedException(Result.ABORTED, "Rejected by ${r.user}")
            }
            if (!canSubmit) {
                at.refused << r.user
                logLine("${r.user}: You need to be ${a.submitter} to submit this")
                continue
            }
            logLine("Approved by ${r.user}")
            at.approver = r.user
            Map values = new LinkedHashMap((Map) (r.values ?: [:]))
            if (a.submitterParameter) {
                values[a.submitterParameter] = r.user
            }
            return values.isEmpty() ? null : values.size() == 1 ? values.values().iterator().next() : values
        }
        logLine('Timeout has been exceeded: nobody allowed to answered the input')
        throw new FlowInterruptedException(Result.ABORTED, 'input not answered by anyone allowed')
    }

    def lock(a, Closure body) {
        String resource = a instanceof Map ? (a.resource ?: a.label) : a
        record('lock', [resource: resource])
        if (locksHeld.contains(resource)) {
            throw new IllegalStateException("lock ${resource} is already held by this build: it would wait for itself forever")
        }
        if (heldElsewhere[resource]) {
            logLine("[${resource}] is locked by ${heldElsewhere.remove(resource)}, waiting...")
            lockLog << "waited ${resource}".toString()
        }
        logLine("Lock acquired on [${resource}]")
        locksHeld << resource
        lockLog << "acquired ${resource}".toString()
        try {
            return body()
        } finally {
            locksHeld.remove(resource)
            lockLog << "released ${resource}".toString()
            logLine("Lock released on resource [${resource}]")
        }
    }

    def stage(String name, Closure body) {
        record('stage', [name: name])
        stages << name
        logLine("[Pipeline] { (${name})")
        try {
            return body()
        } finally {
            stages.remove(stages.size() - 1)
        }
    }

    def node(Object[] a) {
        Closure body = (Closure) a[-1]
        String label = a.length > 1 ? a[0] : null
        record('node', [label: label])
        String saved = node
        node = label ?: '(any)'
        try {
            return body()
        } finally {
            node = saved
        }
    }

    def dir(String d, Closure body) {
        record('dir', [dir: d])
        File saved = cwd
        cwd = new File(cwd, d)
        cwd.mkdirs()
        try {
            return body()
        } finally {
            cwd = saved
        }
    }

    def junit(Map a) {
        record('junit', a)
        File f = new File(cwd, a.testResults)
        if (!f.exists()) {
            if (a.allowEmptyResults) {
                return [totalCount: 0, failCount: 0]
            }
            throw new AbortException('No test report files were found. Configuration error?')
        }
        def xml = new XmlSlurper().parse(f)
        def cases = xml.'**'.findAll { it.name() == 'testcase' }
        int failed = cases.count { it.failure.size() > 0 || it.error.size() > 0 }
        Map summary = [totalCount: cases.size(), failCount: failed]
        junitReports << (summary + [file: a.testResults])
        if (failed > 0 && !a.skipMarkingBuildUnstable) {
            currentBuild.setResult('UNSTABLE')
        }
        return summary
    }

    def readJSON(Map a) {
        record('readJSON', a.findAll { k, v -> k != 'text' })
        if (!a.returnPojo) {
            throw new IllegalArgumentException('readJSON without returnPojo: true gives net.sf.json objects (JSONNull for null); the library reads plain maps')
        }
        String text = a.text != null ? a.text : new File(cwd, a.file).text
        return new JsonSlurperClassic().parseText(text)
    }

    // CatchErrorStep: a failure sets the build result (an interruption its own) and the pipeline goes on.
    def catchError(Map a, Closure body) {
        record('catchError', a)
        try {
            body()
        } catch (FlowInterruptedException e) {
            if (a.catchInterruptions == false) {
                throw e
            }
            if (a.message) logLine("ERROR: ${a.message}")
            currentBuild.setResult(e.result.toString())
        } catch (Throwable e) {
            if (a.message) logLine("ERROR: ${a.message}")
            logLine("ERROR: ${e.message}")
            currentBuild.setResult(a.buildResult ?: 'FAILURE')
        }
        return null
    }

    // ---- the build ------------------------------------------------------------------------

    /** Globals lets a test's closure call the steps and global variables as a Jenkinsfile does. */
    static class Globals {
        final Binding b

        Globals(Binding b) {
            this.b = b
        }

        def invokeMethod(String name, args) {
            return ((Closure) b.getVariable(name)).call((Object[]) args)
        }

        def getProperty(String name) {
            return b.getVariable(name)
        }
    }

    /** env: Jenkins' env global; an unset variable reads as null. */
    static class Env {
        final Map<String, Object> vars = [:]

        def getProperty(String name) {
            return name == 'vars' ? vars : vars[name]
        }

        void setProperty(String name, value) {
            vars[name] = value == null ? null : value.toString()
        }

        def getAt(String name) {
            return vars[name]
        }

        void putAt(String name, value) {
            setProperty(name, value)
        }

        void putAll(Map m) {
            m.each { k, v -> vars[k] = v }
        }

        Map getEnvironment() {
            return new LinkedHashMap(vars)
        }
    }

    /** currentBuild: the result only gets worse; null until something sets it. */
    static class Build {
        final Harness h
        String result
        String description
        String displayName
        int number = 1

        Build(Harness h) {
            this.h = h
        }

        void setResult(String r) {
            if (result == null || Result.fromString(r).isWorseThan(Result.fromString(result))) {
                result = Result.fromString(r).toString()
            }
        }

        String getCurrentResult() {
            return result ?: 'SUCCESS'
        }
    }
}
