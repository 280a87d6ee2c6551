package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * The promotion job's build parameters, as stepper sends them (steps/promote
 * and steps/rollback, route jenkins) or a person fills them in, checked
 * before anyone is asked to approve anything.
 *
 * promote:  APP, DIGEST, FROM, TO, ALL, HOTFIX, REQUESTED_BY
 * rollback: ACTION=rollback, APP, TO (the environment), DIGEST (the release to return to), REASON
 *
 * None of them says who promotes: stepper learns that from the build's
 * causes. REQUESTED_BY is recorded, never trusted.
 */
class PromotionRequest implements Serializable {
    private static final long serialVersionUID = 1L

    static final List<String> ACTIONS = ['promote', 'rollback'].asImmutable()

    /** parse reads params; problems lists everything wrong with them, and nothing runs while it is not empty. */
    @NonCPS
    static Map parse(Map params, List<List<String>> pairs) {
        Map p = params ?: [:]
        Map r = [
            action     : text(p.ACTION) ?: 'promote',
            app        : text(p.APP),
            digest     : text(p.DIGEST),
            from       : text(p.FROM),
            to         : text(p.TO),
            all        : flag(p.ALL),
            hotfix     : flag(p.HOTFIX),
            requestedBy: text(p.REQUESTED_BY),
            reason     : text(p.REASON),
            problems   : [],
        ]
        List<String> problems = (List<String>) r.problems
        List<String> tos = pairs.collect { it[1] }.unique()
        if (!ACTIONS.contains(r.action)) {
            problems << "ACTION ${r.action} is not one of ${ACTIONS.join(', ')}".toString()
            return r
        }
        if (r.app && !(r.app ==~ /[A-Za-z0-9][A-Za-z0-9._-]{0,62}/)) {
            problems << "APP ${r.app} is not an app name (letters, digits, '.', '_', '-')".toString()
        }
        if (r.action == 'rollback') {
            if (!tos.contains(r.to)) {
                problems << "TO ${r.to ?: '(empty)'} is not an environment this job serves (${tos.join(', ')})".toString()
            }
            if (!r.app) {
                problems << 'APP is empty: a rollback returns one app'
            }
            if (!r.reason) {
                problems << 'REASON is empty: a rollback says why'
            }
            return r
        }
        if (!pairs.any { it[0] == r.from && it[1] == r.to }) {
            problems << ("FROM/TO ${r.from ?: '(empty)'} → ${r.to ?: '(empty)'} is not a promotion this job runs; " +
                "it runs ${pairs.collect { it[0] + ' → ' + it[1] }.join(', ')}: environments are visited in order").toString()
        }
        if (r.all) {
            if (r.app || r.digest) {
                problems << 'ALL promotes every app that differs: leave APP and DIGEST empty'
            }
        } else {
            if (!r.app) {
                problems << 'APP is empty: name the app, or set ALL'
            }
            if (!r.digest) {
                problems << 'DIGEST is empty: name the digest that passed in FROM, so that what moves is what was asked for'
            }
        }
        if (r.digest && !(r.digest ==~ /sha256:[0-9a-f]{64}/)) {
            problems << "DIGEST ${r.digest} is not sha256: and 64 hex digits".toString()
        }
        return r
    }

    /**
     * parameters are the job's parameter definitions, as [type, args] for
     * choice, string and booleanParam: FROM and TO limited to the
     * promotions the job runs (the first is the default), and a string for
     * each land.parameters key stepper sends besides.
     */
    @NonCPS
    static List<Map> parameters(List<List<String>> pairs, Map landing) {
        List<Map> out = [
            [type: 'choice', args: [name: 'FROM', choices: pairs.collect { it[0] }.unique(), description: 'The environment the release passed in.']],
            [type: 'choice', args: [name: 'TO', choices: pairs.collect { it[1] }.unique(), description: 'The environment to promote into; with ACTION=rollback, the one to roll back.']],
            [type: 'string', args: [name: 'APP', defaultValue: '', trim: true, description: 'The app to promote; empty with ALL.']],
            [type: 'string', args: [name: 'DIGEST', defaultValue: '', trim: true, description: 'The image digest (sha256:...) that passed in FROM; with ACTION=rollback, the release to return to.']],
            [type: 'booleanParam', args: [name: 'ALL', defaultValue: false, description: 'Promote every app of FROM whose release differs from TO\'s.']],
            [type: 'booleanParam', args: [name: 'HOTFIX', defaultValue: false, description: 'Use the target\'s shorter hotfix soak; every other gate still holds.']],
            [type: 'string', args: [name: 'REQUESTED_BY', defaultValue: '', trim: true, description: 'Who asked, for the record; stepper learns who promotes from the build\'s causes.']],
            [type: 'choice', args: [name: 'ACTION', choices: ACTIONS, description: 'promote, or rollback (as stepper rollback sends it).']],
            [type: 'string', args: [name: 'REASON', defaultValue: '', trim: true, description: 'Why, for ACTION=rollback.']],
        ]
        List<String> named = out.collect { it.args.name as String }
        for (Map.Entry e in (landing ?: [:]).entrySet()) {
            if (!named.contains(e.key)) {
                out << [type: 'string', args: [name: e.key, defaultValue: e.value as String, trim: true, description: 'Sent by stepper (land.parameters).']]
            }
        }
        return out
    }

    /** apps are the apps a promotion moved: the one asked for, or with ALL each release of promote's result. */
    @NonCPS
    static List<String> apps(Map r, Map promoted) {
        if (!r.all) {
            return [(String) r.app]
        }
        return ((List) (promoted?.details?.releases ?: [])).collect { it.app as String }
    }

    /** question is what the input step asks. */
    @NonCPS
    static String question(Map r) {
        if (r.action == 'rollback') {
            String to = r.digest ? " to ${r.digest}" : ''
            return "Roll ${r.app} in ${r.to} back${to}? Reason: ${r.reason}".toString()
        }
        String what = r.all ? 'every app that differs' : "${r.app} ${r.digest}"
        String kind = r.hotfix ? 'Hotfix promotion' : 'Promote'
        String by = r.requestedBy ? " (requested by ${r.requestedBy})" : ''
        return "${kind} ${what} from ${r.from} to ${r.to}${by}?".toString()
    }

    @NonCPS
    private static String text(value) {
        return value == null ? '' : value.toString().trim()
    }

    @NonCPS
    private static boolean flag(value) {
        return value instanceof Boolean ? (boolean) value : text(value).equalsIgnoreCase('true')
    }
}
