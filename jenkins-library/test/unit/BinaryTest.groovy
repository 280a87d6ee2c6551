import dev.stepper.jenkins.Binary
import groovy.json.JsonSlurperClassic
import harness.Fixtures
import org.junit.Before
import org.junit.Test

import java.security.MessageDigest

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNotNull
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue

/** The install script, run for real with sh: found, downloaded, cached, and refused when the sha256 is not the pinned one. */
class BinaryTest {
    File dir
    File release
    String platform
    String sum

    @Before
    void setUp() {
        dir = File.createTempDir('binary-test', '')
        String arch = System.getProperty('os.arch') in ['amd64', 'x86_64'] ? 'amd64' : 'arm64'
        platform = "${System.getProperty('os.name').toLowerCase()}-${arch}"
        release = new File(dir, "releases/v9.9.9/stepper-${platform}")
        release.parentFile.mkdirs()
        release.text = '#!/bin/sh\necho stepper v9.9.9\n'
        release.setExecutable(true)
        sum = sha256(release)
    }

    static String sha256(File f) {
        return MessageDigest.getInstance('SHA-256').digest(f.bytes).encodeHex().toString()
    }

    Map pin(Map settings = [:]) {
        Map resource = [version: 'v9.9.9', url: "file://${dir}/releases/{version}/stepper-{os}-{arch}".toString(), sha256: [(platform): sum, 'plan9-mips': '0' * 64]]
        return Binary.pin(resource, [cache: "${dir}/cache".toString()] + settings)
    }

    Map run(Map pin) {
        File script = new File(dir, 'install.sh')
        script.text = Binary.script(pin)
        Process p = new ProcessBuilder('sh', '-e', script.path).redirectErrorStream(false).start()
        String out = p.inputStream.text
        String err = p.errorStream.text
        return [status: p.waitFor(), out: out, err: err, dir: Binary.directory(out)]
    }

    @Test
    void downloadsVerifiesAndCaches() {
        Map r = run(pin())
        assertEquals(r.err, 0, r.status)
        assertEquals("${dir}/cache".toString(), r.dir)
        assertEquals(sum, sha256(new File(r.dir, 'stepper')))
        assertTrue(new File(r.dir, 'stepper').canExecute())
        release.delete() // the second run finds it in the cache
        r = run(pin())
        assertEquals(r.err, 0, r.status)
        assertEquals("${dir}/cache".toString(), r.dir)
    }

    @Test
    void aDownloadWithAnotherSumIsRefusedAndNotKept() {
        release.text = '#!/bin/sh\necho something else\n'
        Map r = run(pin())
        assertEquals(1, r.status)
        assertTrue(r.err, r.err.contains('refusing to run it'))
        assertFalse(new File(dir, 'cache/stepper').exists())
        assertEquals([], new File(dir, 'cache').list() as List)
    }

    @Test
    void aChangedCachedBinaryIsReplaced() {
        assertEquals(0, run(pin()).status)
        new File(dir, 'cache/stepper').text = '#!/bin/sh\necho tampered\n'
        Map r = run(pin())
        assertEquals(r.err, 0, r.status)
        assertEquals(sum, sha256(new File(dir, 'cache/stepper')))
    }

    @Test
    void aBinaryTheAgentProvidesMustBeThePinnedOne() {
        Map r = run(pin(path: release.path))
        assertEquals(r.err, 0, r.status)
        assertEquals(sum, sha256(new File(r.dir, 'stepper')))
        File other = new File(dir, 'other-stepper')
        other.text = '#!/bin/sh\necho other\n'
        other.setExecutable(true)
        r = run(pin(path: other.path))
        assertEquals(1, r.status)
        assertTrue(r.err, r.err.contains("${other.path} has sha256") && r.err.contains('refusing to run it'))
    }

    @Test
    void anotherVersionNeedsItsOwnSum() {
        Map p = Binary.pin([version: 'v1', url: 'x', sha256: [(platform): sum]], [version: 'v2'])
        assertNotNull(Binary.problem(p))
        p = Binary.pin([version: 'v1', url: 'x', sha256: [(platform): sum]], [version: 'v2', sha256: sum])
        assertNull(Binary.problem(p))
        assertEquals([any: sum], p.sha256)
    }

    @Test
    void theLibrarysOwnPinRunsNothingUntilItHoldsSums() {
        Map resource = (Map) new JsonSlurperClassic().parse(new File(Fixtures.library(), 'resources/' + Binary.RESOURCE))
        assertTrue(resource.version ==~ /v\d+\.\d+\.\d+.*/)
        String problem = Binary.problem(Binary.pin(resource, [:]))
        if (resource.sha256.values().any { it }) {
            assertNull(problem)
        } else {
            assertTrue(problem, problem.contains('no sha256 is pinned'))
        }
    }

    @Test
    void directoryIsTheLastLine() {
        assertEquals('/c/v1', Binary.directory('stepper: downloading\n/c/v1\n\n'))
        assertEquals('', Binary.directory(''))
    }
}
