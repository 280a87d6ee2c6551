import cps.CpsCheck
import harness.Fixtures
import org.junit.Test

import static org.junit.Assert.assertEquals

/** The CPS check over the library, and the check itself on the patterns it is for. */
class CpsCheckTest {
    static List<File> library() {
        File lib = Fixtures.library()
        List<File> files = []
        new File(lib, 'src').eachFileRecurse { if (it.name.endsWith('.groovy')) files << it }
        new File(lib, 'vars').eachFile { if (it.name.endsWith('.groovy')) files << it }
        return files.sort { it.path }
    }

    static Set<String> globals() {
        return new File(Fixtures.library(), 'vars').list().findAll { it.endsWith('.groovy') }.collect { it - '.groovy' } as Set
    }

    @Test
    void theLibraryIsClean() {
        List<File> files = library()
        assertEquals(8, files.count { it.parentFile.name == 'vars' })
        List<Map> findings = CpsCheck.check(files, globals())
        assertEquals(findings.collect { "${it.file}:${it.line}: ${it.rule}: ${it.message}" }.join('\n'), [], findings)
    }

    static List<String> rules(String dir, String source) {
        File d = new File(File.createTempDir('cps', ''), dir)
        d.mkdirs()
        File f = new File(d, 'Sample.groovy')
        f.text = source
        return CpsCheck.check([f], ['stepperDeploy'] as Set).collect { it.rule }
    }

    @Test
    void aClassThatIsNotSerializable() {
        assertEquals(['serializable'], rules('src', 'class Sample { def steps }'))
        assertEquals([], rules('src', 'class Sample implements Serializable { def steps }'))
    }

    @Test
    void fieldsThatCannotBeSerialised() {
        assertEquals(['field', 'field'], rules('src', '''import java.util.regex.Matcher
class Sample implements Serializable { Matcher m; Iterator<String> it; transient Reader r; static Process p }'''))
    }

    @Test
    void aMatcherOrAnIteratorInCpsCode() {
        assertEquals(['noncps-needed'], rules('src', '''class Sample implements Serializable {
    def steps
    void run(String s) { def m = (s =~ /v(\\d+)/); steps.sh("echo ${m[0][1]}") }
}'''))
        assertEquals(['local', 'noncps-needed', 'noncps-needed', 'noncps-needed'], rules('src', '''class Sample implements Serializable {
    def steps
    void run(List l) { Iterator i = l.iterator(); while (i.hasNext()) { steps.echo(i.next()) } }
}'''))
        assertEquals([], rules('src', '''import com.cloudbees.groovy.cps.NonCPS
class Sample implements Serializable {
    @NonCPS static String first(String s) { def m = (s =~ /v(\\d+)/); m.find() ? m.group(1) : null }
}'''))
    }

    @Test
    void aClosureTheCpsEngineDoesNotTranslate() {
        assertEquals(['noncps-needed'], rules('vars', 'def call(List l) { l.sort { a, b -> a <=> b } }'))
        assertEquals([], rules('vars', '''import com.cloudbees.groovy.cps.NonCPS
@NonCPS List sorted(List l) { l.sort { a, b -> a <=> b } }
def call(List l) { sorted(l) }'''))
    }

    @Test
    void aStepInNonCpsCode() {
        assertEquals(['noncps-step', 'noncps-step'], rules('vars', '''import com.cloudbees.groovy.cps.NonCPS
@NonCPS void deploy(Map m) { sh 'stepper deploy'; stepperDeploy(m) }'''))
    }

    @Test
    void aForInLoopAroundAStep() {
        assertEquals(['loop-step'], rules('vars', 'def call(Map apps) { for (e in apps) { stepperDeploy(env: e.key) } }'))
        assertEquals([], rules('vars', 'def call(List apps) { for (int i = 0; i < apps.size(); i++) { stepperDeploy(env: apps[i]) } }'))
        assertEquals([], rules('vars', 'def call(List apps) { List out = []; for (a in apps) { out << a }; out }'))
    }

    @Test
    void jsonSlurper() {
        assertEquals(['json-slurper'], rules('vars', 'def call(String t) { new groovy.json.JsonSlurper().parseText(t) }'))
    }

    @Test
    void aClosureCallingAPrivateMethod() {
        assertEquals(['closure-private'], rules('src', '''class Sample implements Serializable {
    def steps
    void run() { steps.node { helper() } }
    private void helper() { steps.echo('x') }
}'''))
    }
}
