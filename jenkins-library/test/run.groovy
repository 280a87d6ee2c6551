// Runs the library's tests on this Groovy (Debian's 2.4, the language level
// of Jenkins pipelines): every test/**/*Test.groovy with JUnit 4. Each test
// prints one JSON line (the Go test reads them); the exit code is 1 when
// any test failed.
//
//   groovy test/run.groovy [LIBRARY_DIR] [CLASS_FILTER]

import groovy.json.JsonOutput
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

File lib = new File(args.length > 0 ? args[0] : '.').canonicalFile
String only = args.length > 1 ? args[1] : ''
System.setProperty('stepper.library', lib.path)

GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
['test/stubs', 'src', 'test'].each { loader.addClasspath(new File(lib, it).path) }

List<Class> classes = []
new File(lib, 'test').eachFileRecurse { File f ->
    if (f.name.endsWith('Test.groovy') && (!only || f.name.contains(only))) {
        classes << loader.parseClass(f)
    }
}
classes.sort { it.name }

Map<String, Map> results = [:]
JUnitCore core = new JUnitCore()
core.addListener(new RunListener() {
    void testStarted(Description d) {
        results[d.displayName] = [test: "${d.className.tokenize('.')[-1]}/${d.methodName}", status: 'pass']
    }

    void testFailure(Failure f) {
        Map r = results[f.description.displayName] ?: [test: f.description.displayName]
        r.status = 'fail'
        r.message = f.message
        r.trace = f.trace.readLines().findAll { !it.contains('org.codehaus.groovy') && !it.contains('sun.reflect') && !it.contains('java.lang.reflect') }.take(25).join('\n')
        results[f.description.displayName] = r
    }

    void testAssumptionFailure(Failure f) {
        Map r = results[f.description.displayName]
        r.status = 'skip'
        r.message = f.message
    }

    void testIgnored(Description d) {
        results[d.displayName] = [test: "${d.className.tokenize('.')[-1]}/${d.methodName}", status: 'skip']
    }

    void testFinished(Description d) {
        println JsonOutput.toJson(results[d.displayName])
        System.out.flush()
    }
})
def outcome = core.run(classes as Class[])
System.exit(outcome.wasSuccessful() && classes ? 0 : 1)
