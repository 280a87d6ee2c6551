package org.jenkinsci.plugins.workflow.steps

import hudson.model.Result

/** Stand-in for workflow-step-api's FlowInterruptedException: the build was stopped (abort, input rejected, timeout). */
class FlowInterruptedException extends InterruptedException {
    final Result result
    final List causes

    FlowInterruptedException(Result result, Object... causes) {
        super(causes ? causes.join('; ') : result.toString())
        this.result = result
        this.causes = causes as List
    }

    boolean isActualInterruption() {
        return true
    }
}
