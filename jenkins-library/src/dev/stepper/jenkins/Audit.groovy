package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * The promotion job's build description: who, what, from where, and the
 * evidence, read from stepper's result files (never from the build's
 * parameters, except REQUESTED_BY, which is marked as what it is).
 */
class Audit implements Serializable {
    private static final long serialVersionUID = 1L

    /**
     * describe writes the record. run holds the request, the approver and
     * each step's result (promote, deploy, smoke, rollback), any of which
     * may be missing when the job stopped before it; outcome is the build's
     * result.
     */
    @NonCPS
    static String describe(Map run, String outcome) {
        Map req = (Map) (run.request ?: [:])
        List<String> lines = []
        if (req.action == 'rollback') {
            lines << "Rollback of ${req.app} in ${req.to}${req.digest ? ' to ' + req.digest : ''}: ${req.reason}".toString()
        } else {
            lines << "${req.hotfix ? 'Hotfix promotion' : 'Promotion'} ${req.from} → ${req.to}: ${what(req, (Map) run.promote)}".toString()
        }
        lines << who(run)
        Map promote = (Map) run.promote
        if (promote) {
            String gates = gates(promote)
            if (gates) {
                lines << 'Gates: ' + gates
            }
            String landed = landed(promote)
            if (landed) {
                lines << landed
            }
            if (promote.error) {
                lines << "Refused: ${promote.error}".toString()
            }
        }
        for (String step in ['deploy', 'smoke', 'rollback', 'rollbackState']) {
            def value = run[step]
            List<Map> results = value instanceof Map ? [(Map) value] : (List<Map>) (value ?: [])
            for (Map r in results) {
                String app = value instanceof List && r.app ? ' ' + r.app : ''
                String err = r.error ? " (${r.error})" : ''
                lines << "${label(step)}${app}: ${r.status}${err}".toString()
            }
        }
        lines << "Result: ${outcome}".toString()
        return lines.join('\n')
    }

    @NonCPS
    private static String what(Map req, Map promote) {
        List releases = (List) (promote?.details?.releases ?: [])
        if (releases) {
            return releases.collect { Map c ->
                String chart = c.chartVersion ? " (chart ${c.chartVersion})" : ''
                "${c.app} ${image(c.image)}${chart}".toString()
            }.join(', ')
        }
        return req.all ? 'every app that differs' : "${req.app} ${req.digest}".toString()
    }

    @NonCPS
    private static String image(img) {
        if (img instanceof Map) {
            // release.Ref, as Go encodes it: Repository, Tag, Digest
            Map m = (Map) img
            String tag = m.Tag ? ':' + m.Tag : ''
            String digest = m.Digest ? '@' + m.Digest : ''
            return "${m.Repository ?: ''}${tag}${digest}".toString()
        }
        return img?.toString() ?: ''
    }

    @NonCPS
    private static String who(Map run) {
        Map req = (Map) (run.request ?: [:])
        Map promote = (Map) run.promote
        List<String> parts = []
        String actor = promote?.details?.actor ?: promote?.outputs?.get('promoted-by')
        if (actor) {
            String from = promote?.details?.actorSource ? " (${promote.details.actorSource})" : ''
            parts << "promoted by ${actor}${from}".toString()
        }
        parts << (run.approver ? "approved by ${run.approver}".toString() : 'not approved')
        if (req.requestedBy) {
            parts << "requested by ${req.requestedBy} (a build parameter, not used for privilege)".toString()
        }
        String line = parts.join('; ')
        return line.substring(0, 1).toUpperCase() + line.substring(1)
    }

    @NonCPS
    private static String gates(Map promote) {
        List gates = (List) (promote.details?.gates ?: [])
        return gates.collect { Map g ->
            String verdict = g.off ? 'off' : (g.passed ? 'passed' : 'FAILED')
            String evidence = g.evidence ? " [${g.evidence}]" : ''
            "${g.gate} ${verdict}${evidence}".toString()
        }.join('; ')
    }

    @NonCPS
    private static String landed(Map promote) {
        Map out = (Map) (promote.outputs ?: [:])
        if (!out.via) {
            return null
        }
        String commit = out.commit ? " ${out.commit}" : ''
        String branch = out.branch ? " on ${out.branch}" : ''
        String mr = out.get('merge-request') ? " ${out.get('merge-request')}" : ''
        return "Landed by ${out.via}${commit}${branch}${mr}".toString()
    }

    @NonCPS
    private static String label(String step) {
        switch (step) {
            case 'deploy': return 'Deploy --apply'
            case 'smoke': return 'Smoke test'
            case 'rollback': return 'Rollback --apply'
            case 'rollbackState': return 'Rollback of the desired state'
        }
        return step
    }
}
