// One build of the promotion job, end to end: promotionJob runs in the
// harness with sh running for real, so every stepper command line the
// library builds runs the real binary against the local platform. The Go
// test (e2e_test.go) prepares the platform and a spec, and runs this as the
// body of a build of its stand-in Jenkins, whose API stepper asks who
// started the build.
//
//   E2E_SPEC=spec.json groovy test/e2e/promotionJob.groovy
//
// spec.json: library, workspace, resources, env, credentials, users,
// answers, params, args, out. The outcome (the build's result, its
// description, the command lines, the log) goes to out as JSON.

import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic

Map spec = (Map) new JsonSlurperClassic().parse(new File(System.getenv('E2E_SPEC')))
File lib = new File((String) spec.library)
GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
['test/stubs', 'src', 'test'].each { loader.addClasspath(new File(lib, it).path) }
def h = loader.loadClass('harness.Harness').newInstance(lib, new File((String) spec.workspace))
h.loadVars()
h.realShell = true
h.resourcesDir = new File((String) spec.resources)
h.env.putAll((Map) spec.env)
((Map) spec.credentials).each { id, c -> h.credential((String) id, (Map) c) }
((Map) spec.users).each { id, groups -> h.user((String) id, groups: groups) }
((List) spec.answers).each { h.answer((Map) it) }
h.params((Map) spec.params)

String result = h.call('promotionJob', (Map) spec.args)
new File((String) spec.out).text = JsonOutput.toJson([
    result     : result,
    description: h.currentBuild.description,
    commands   : h.commands(),
    error      : h.lastError?.message,
    log        : h.log,
    inputs     : h.inputs,
    locks      : h.lockLog,
])
System.err.println("Finished: ${result}")
