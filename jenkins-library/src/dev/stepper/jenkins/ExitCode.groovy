package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * stepper's exit codes (README "Exit codes") and the build results they
 * leave in Jenkins.
 *
 * | exit | meaning                                        | build result          |
 * |------|------------------------------------------------|-----------------------|
 * | 0    | success                                        | unchanged             |
 * | 1    | a check failed, a gate or a promotion refused  | onFailed: FAILURE (default) or UNSTABLE; RETURN leaves it to the caller |
 * | 2    | usage or configuration error                   | FAILURE               |
 * | 3    | infrastructure error                           | FAILURE               |
 * | 130  | interrupted (SIGINT)                           | ABORTED               |
 * | 143  | terminated (SIGTERM)                           | ABORTED               |
 * | else | stepper did not finish (127: not found, 137: killed) | FAILURE         |
 */
class ExitCode implements Serializable {
    private static final long serialVersionUID = 1L

    static final int OK = 0
    static final int FAILED = 1
    static final int USAGE = 2
    static final int INFRASTRUCTURE = 3
    static final int INTERRUPTED = 130
    static final int TERMINATED = 143

    /** What onFailed may say. */
    static final List<String> ON_FAILED = ['FAILURE', 'UNSTABLE', 'RETURN'].asImmutable()

    /** meaning is what an exit code says, in a few words. */
    @NonCPS
    static String meaning(int code) {
        switch (code) {
            case OK: return 'succeeded'
            case FAILED: return 'a check failed or a gate refused'
            case USAGE: return 'usage or configuration error'
            case INFRASTRUCTURE: return 'infrastructure error'
            case INTERRUPTED: return 'interrupted'
            case TERMINATED: return 'terminated'
            case 127: return 'stepper was not found'
            case 137: return 'stepper was killed'
        }
        return 'stepper ended unexpectedly'
    }

    /** status is the result file's status for a run that wrote none. */
    @NonCPS
    static String status(int code) {
        switch (code) {
            case OK: return 'succeeded'
            case FAILED: return 'failed'
            case INTERRUPTED: case TERMINATED: return 'interrupted'
        }
        return 'error'
    }

    /** buildResult is the result a run leaves the build in; null leaves the build as it is. */
    @NonCPS
    static String buildResult(int code, String onFailed) {
        switch (code) {
            case OK: return null
            case FAILED: return onFailed == 'RETURN' ? null : (onFailed ?: 'FAILURE')
            case INTERRUPTED: case TERMINATED: return 'ABORTED'
        }
        return 'FAILURE'
    }

    /** RESULTS are Jenkins' build results from best to worst: a build's result only gets worse. */
    static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED'].asImmutable()

    /** worse is the worse of two build results; null counts as none. */
    @NonCPS
    static String worse(String a, String b) {
        if (a == null) {
            return b
        }
        if (b == null) {
            return a
        }
        return RESULTS.indexOf(b) > RESULTS.indexOf(a) ? b : a
    }

    /** describe is the line the build fails or turns unstable with. */
    @NonCPS
    static String describe(String verb, int code, Map result) {
        String why = result?.error ? ": ${result.error}" : ''
        return "stepper ${verb}: exit ${code} (${meaning(code)})${why}".toString()
    }
}
