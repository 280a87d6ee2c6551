package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * The Map a global variable is called with, laid over its defaults.
 *
 * A key the defaults do not name is refused, with the closest known one, so
 * a typo never silently does nothing. A map whose default names keys
 * merges key by key; when the default names every key it takes, without
 * values (credentials, binary), unknown keys in it are refused the same
 * way. Other maps (a stage's extra settings, which the variable that takes
 * them checks) and empty ones (set, buildArg) are the caller's own.
 */
class Settings implements Serializable {
    private static final long serialVersionUID = 1L

    /** combine is base with more laid over it: base's keys keep their order, more's new keys follow. */
    @NonCPS
    static Map combine(Map base, Map more) {
        Map out = copy(base)
        for (Map.Entry e in more.entrySet()) {
            out[e.key] = copy(e.value)
        }
        return out
    }

    /** merge is args laid over defaults. Call problems first: merge ignores nothing, it assumes. */
    @NonCPS
    static Map merge(Map defaults, Map args) {
        Map out = copy(defaults)
        for (Map.Entry e in (args ?: [:]).entrySet()) {
            def d = defaults[e.key]
            if (d instanceof Map && !((Map) d).isEmpty() && e.value instanceof Map) {
                out[e.key] = merge((Map) d, (Map) e.value)
            } else {
                out[e.key] = copy(e.value)
            }
        }
        return out
    }

    /** problems names every key of args that defaults do not know, with the closest known key. */
    @NonCPS
    static List<String> problems(String step, Map defaults, Map args) {
        List<String> out = []
        for (Map.Entry e in (args ?: [:]).entrySet()) {
            String key = e.key.toString()
            if (!defaults.containsKey(key)) {
                out << unknown(step, key, defaults.keySet())
                continue
            }
            def d = defaults[key]
            if (schema(d)) {
                if (e.value != null && !(e.value instanceof Map)) {
                    out << "${step}: ${key} takes a map of ${d.keySet().join(', ')}, not ${e.value.getClass().simpleName}".toString()
                    continue
                }
                for (Object inner in ((Map) (e.value ?: [:])).keySet()) {
                    if (!((Map) d).containsKey(inner)) {
                        out << unknown(step, key + '.' + inner, ((Map) d).keySet().collect { key + '.' + it })
                    }
                }
            }
        }
        return out
    }

    /** schema says a default map names every key it takes: no values, only keys. */
    @NonCPS
    static boolean schema(value) {
        return value instanceof Map && !((Map) value).isEmpty() && ((Map) value).values().every { it == null }
    }

    @NonCPS
    private static String unknown(String step, String key, Collection known) {
        String best = null
        int bestDistance = Integer.MAX_VALUE
        for (Object k in known) {
            int d = distance(key.toLowerCase(), k.toString().toLowerCase())
            if (d < bestDistance) {
                best = k.toString()
                bestDistance = d
            }
        }
        String hint = best != null && bestDistance <= Math.max(2, key.length().intdiv(3)) ? "; did you mean ${best}?" : ''
        return "${step}: unknown key ${key}${hint} (known: ${known.join(', ')})".toString()
    }

    /** distance is the Levenshtein distance of a and b. */
    @NonCPS
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1]
        int[] cur = new int[b.length() + 1]
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost)
            }
            int[] t = prev
            prev = cur
            cur = t
        }
        return prev[b.length()]
    }

    /** copy copies maps and lists, so that no caller's value is ever changed through the settings. */
    @NonCPS
    static copy(value) {
        if (value instanceof Map) {
            Map out = new LinkedHashMap()
            for (Map.Entry e in ((Map) value).entrySet()) {
                out[e.key] = copy(e.value)
            }
            return out
        }
        if (value instanceof List) {
            List out = []
            for (Object v in (List) value) {
                out << copy(v)
            }
            return out
        }
        return value
    }
}
