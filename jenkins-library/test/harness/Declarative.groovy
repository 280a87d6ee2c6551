package harness

import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * The part of Declarative Pipeline the library uses, run the way Jenkins
 * runs it: the pipeline block is read first (agent, options, stages, post),
 * then the stages run in order. A stage with its own agent runs in a node
 * of that label, after the implicit `checkout scm`; once a stage fails, the
 * later ones are skipped; the post conditions run last, by the build's
 * current result (always, aborted, failure, success, unstable, cleanup);
 * the first error then ends the build.
 */
class Declarative {
    final Harness h
    def agent = null
    List<String> options = []
    List<Map> stageList = []
    Map<String, Closure> post = [:]
    boolean reading = true

    Declarative(Harness h) {
        this.h = h
    }

    void run(Closure body) {
        h.record('pipeline', [:])
        body.delegate = this
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body()
        reading = false
        Closure all = { -> runStages() }
        if (agent instanceof Map && agent.label != null) {
            h.node(agent.label as String, { -> h.record('checkout', [scm: 'implicit']); all() })
        } else if (agent == 'any') {
            h.node({ -> h.record('checkout', [scm: 'implicit']); all() })
        } else {
            all()
        }
    }

    private void runStages() {
        Throwable first = null
        for (Map s in stageList) {
            if (first != null) {
                h.record('stage-skipped', [name: s.name])
                h.logLine("Stage \"${s.name}\" skipped due to earlier failure(s)")
                continue
            }
            try {
                h.stage(s.name as String) {
                    Closure steps = { -> ((Closure) s.steps)?.call() }
                    try {
                        if (s.agent instanceof Map && s.agent.label != null) {
                            h.node(s.agent.label as String, { -> h.record('checkout', [scm: 'implicit']); steps() })
                        } else {
                            steps()
                        }
                    } finally {
                        runPost((Map) s.post, null)
                    }
                }
            } catch (FlowInterruptedException e) {
                h.currentBuild.setResult(e.result.toString())
                first = e
            } catch (Throwable e) {
                h.currentBuild.setResult('FAILURE')
                first = e
            }
        }
        runPost(post, first)
        if (first != null) {
            throw first
        }
    }

    private void runPost(Map conditions, Throwable error) {
        if (!conditions) {
            return
        }
        String r = h.currentBuild.currentResult
        Map<String, Boolean> holds = [
            always  : true,
            aborted : r == 'ABORTED',
            failure : r == 'FAILURE',
            success : r == 'SUCCESS',
            unstable: r == 'UNSTABLE',
            cleanup : true,
        ]
        holds.each { String name, Boolean on ->
            if (on && conditions[name]) {
                h.record('post', [condition: name])
                ((Closure) conditions[name]).call()
            }
        }
    }

    // ---- the pipeline block ----

    String getAny() { 'any' }

    String getNone() { 'none' }

    void agent(Object a) {
        agent = a
    }

    void agent(Closure c) {
        agent = readAgent(c)
    }

    void options(Closure c) {
        c.delegate = new Recorder(options)
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c()
    }

    void stages(Closure c) {
        c.delegate = this
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c()
    }

    void post(Closure c) {
        post = readPost(c)
    }

    /** stage: while reading, a declarative stage; inside a script block, the scripted stage step. */
    def stage(String name, Closure c) {
        if (!reading) {
            return h.stage(name, c)
        }
        StageReader r = new StageReader(this)
        c.delegate = r
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c()
        stageList << [name: name, agent: r.agent, steps: r.steps, post: r.post]
        return null
    }

    static Map readAgent(Closure c) {
        AgentReader r = new AgentReader()
        c.delegate = r
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c()
        return [label: r.label]
    }

    static Map readPost(Closure c) {
        PostReader r = new PostReader()
        c.delegate = r
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c()
        return r.conditions
    }

    static class StageReader {
        final Declarative d
        def agent = null
        Closure steps
        Map post = [:]

        StageReader(Declarative d) {
            this.d = d
        }

        String getAny() { 'any' }

        String getNone() { 'none' }

        void agent(Object a) {
            agent = a
        }

        void agent(Closure c) {
            agent = readAgent(c)
        }

        void steps(Closure c) {
            steps = c
        }

        void post(Closure c) {
            post = readPost(c)
        }
    }

    static class AgentReader {
        String label

        void label(String l) {
            label = l
        }
    }
}

class PostReader {
    Map<String, Closure> conditions = [:]

    def methodMissing(String name, args) {
        if (name in ['always', 'aborted', 'failure', 'success', 'unstable', 'cleanup', 'changed']) {
            conditions[name] = (Closure) ((Object[]) args)[0]
            return null
        }
        throw new MissingMethodException(name, PostReader, (Object[]) args)
    }
}

class Recorder {
    final List<String> into

    Recorder(List<String> into) {
        this.into = into
    }

    def methodMissing(String name, args) {
        into << name
        return null
    }
}
