package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * The environment chain as stepper reports it (`stepper config show
 * --output json`), read for what Jenkins must know before stepper runs:
 * the choices of the promotion job's FROM and TO parameters, who may answer
 * its input, and whether a promotion has landed when stepper returns.
 * stepper decides again, from its own configuration, every time it runs.
 */
class Chain implements Serializable {
    private static final long serialVersionUID = 1L

    /** envs is the selected chain, in order: chains[chain], else the environments as listed. */
    @NonCPS
    static List<String> envs(Map config) {
        Map chains = (Map) (config?.chains ?: [:])
        if (config?.chain && chains[config.chain]) {
            return new ArrayList<String>((List) chains[config.chain])
        }
        return ((List) (config?.environments ?: [])).collect { it.name as String }
    }

    /** pairs are the promotions of a chain: each environment and the next one. */
    @NonCPS
    static List<List<String>> pairs(List<String> chain) {
        List<List<String>> out = []
        for (int i = 1; i < chain.size(); i++) {
            out << [chain[i - 1], chain[i]]
        }
        return out
    }

    /** environment is the named environment of config, or an empty map. */
    @NonCPS
    static Map environment(Map config, String name) {
        for (Object e in (List) (config?.environments ?: [])) {
            if (((Map) e).name == name) {
                return (Map) e
            }
        }
        return [:]
    }

    /** route is how changes land in env: commit, merge-request, jenkins or tag. */
    @NonCPS
    static String route(Map config, String env) {
        return (String) (((Map) (environment(config, env).land ?: [:])).via ?: 'commit')
    }

    /**
     * pairsForJob are the promotions the promotion job named job runs:
     * pairs of the chain into targets. Without targets, the targets are
     * the environments whose route is this very job (land.via jenkins,
     * land.job job); when none is, every environment. A target whose route
     * is another Jenkins job is always left out: stepper would trigger that
     * job from inside this one.
     */
    @NonCPS
    static List<List<String>> pairsForJob(Map config, String job, List<String> targets) {
        List<String> into = targets ? targets : envs(config).findAll { String e ->
            Map land = (Map) (environment(config, e).land ?: [:])
            land.via == 'jenkins' && land.job == job
        }
        List<List<String>> out = []
        for (List<String> p in pairs(envs(config))) {
            String to = p[1]
            if (into && !into.contains(to)) {
                continue
            }
            Map land = (Map) (environment(config, to).land ?: [:])
            if (land.via == 'jenkins' && land.job != job) {
                continue
            }
            out << p
        }
        return out
    }

    /** landingParameters are the land.parameters the targets' routes send to this job (ENVIRONMENT: prod). */
    @NonCPS
    static Map landingParameters(Map config, List<List<String>> pairs) {
        Map out = new LinkedHashMap()
        for (List<String> p in pairs) {
            Map land = (Map) (environment(config, p[1]).land ?: [:])
            for (Map.Entry e in ((Map) (land.parameters ?: [:])).entrySet()) {
                if (!out.containsKey(e.key)) {
                    out[e.key] = e.value
                }
            }
        }
        return out
    }

    /**
     * promoters are who may promote into env: chainPromoters[chain] where
     * the environment names the chain, else promoters.
     */
    @NonCPS
    static List<String> promoters(Map config, String env) {
        Map e = environment(config, env)
        Map byChain = (Map) (e.chainPromoters ?: [:])
        if (config?.chain && byChain.containsKey(config.chain)) {
            return new ArrayList<String>((List) (byChain[config.chain] ?: []))
        }
        return new ArrayList<String>((List) (e.promoters ?: []))
    }

    /**
     * submitter is the input step's submitter for env: its promoters
     * without their user: and group: prefixes, comma-separated, as
     * Jenkins matches user ids and group names; null when env names none.
     */
    @NonCPS
    static String submitter(Map config, String env) {
        List<String> names = promoters(config, env).collect { String p ->
            int colon = p.indexOf(':')
            colon >= 0 ? p.substring(colon + 1) : p
        }.findAll { it }
        return names ? names.join(',') : null
    }

    /**
     * landsAtOnce says a promotion into env has reached the desired state
     * when stepper promote returns: by commit or tag, and by merge request
     * only when promote waited for the merge. A promotion through a Jenkins
     * job is deployed and smoke-tested by that job.
     */
    @NonCPS
    static boolean landsAtOnce(Map config, String env, boolean waited) {
        String via = route(config, env)
        return via == 'commit' || via == 'tag' || (via == 'merge-request' && waited)
    }
}
