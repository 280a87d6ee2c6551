import dev.stepper.jenkins.ExitCode
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertNull

class ExitCodeTest {
    @Test
    void buildResults() {
        assertNull(ExitCode.buildResult(0, 'FAILURE'))
        assertEquals('FAILURE', ExitCode.buildResult(1, 'FAILURE'))
        assertEquals('UNSTABLE', ExitCode.buildResult(1, 'UNSTABLE'))
        assertNull(ExitCode.buildResult(1, 'RETURN'))
        for (String onFailed in ['FAILURE', 'UNSTABLE', 'RETURN']) {
            assertEquals('FAILURE', ExitCode.buildResult(2, onFailed))
            assertEquals('FAILURE', ExitCode.buildResult(3, onFailed))
            assertEquals('ABORTED', ExitCode.buildResult(130, onFailed))
            assertEquals('ABORTED', ExitCode.buildResult(143, onFailed))
            assertEquals('FAILURE', ExitCode.buildResult(127, onFailed))
            assertEquals('FAILURE', ExitCode.buildResult(137, onFailed))
        }
    }

    @Test
    void statusOfARunWithoutAResult() {
        assertEquals(['succeeded', 'failed', 'error', 'error', 'interrupted', 'interrupted', 'error'],
            [0, 1, 2, 3, 130, 143, 127].collect { ExitCode.status(it) })
    }

    @Test
    void describe() {
        assertEquals('stepper promote: exit 1 (a check failed or a gate refused): gate smoke-tested refused',
            ExitCode.describe('promote', 1, [error: 'gate smoke-tested refused']))
        assertEquals('stepper deploy: exit 3 (infrastructure error)', ExitCode.describe('deploy', 3, [:]))
    }

    @Test
    void worse() {
        assertEquals('FAILURE', ExitCode.worse('UNSTABLE', 'FAILURE'))
        assertEquals('ABORTED', ExitCode.worse('ABORTED', 'FAILURE'))
        assertEquals('UNSTABLE', ExitCode.worse(null, 'UNSTABLE'))
        assertEquals('SUCCESS', ExitCode.worse('SUCCESS', null))
    }
}
