package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * The stepper command line a global variable runs.
 *
 * A settings key is stepper's flag of the same name in camelCase
 * (fromResult is --from-result): true is the bare flag, false and null
 * leave it out (--no-wait for wait: false), a list repeats the flag, a map
 * repeats it as KEY=VALUE. Every word is quoted for sh, so no value is ever
 * read by the shell. Secrets never pass here: they reach stepper through
 * the environment (see Credentials).
 */
class Command implements Serializable {
    private static final long serialVersionUID = 1L

    /** Keys that configure the library, not stepper: never flags. */
    static final List<String> LIBRARY_KEYS = ['credentials', 'binary', 'onFailed', 'args'].asImmutable()

    /** Flags a verb takes as --X and --no-X: false is said out loud there, and left out elsewhere. */
    static final Map<String, List<String>> NEGATABLE = [
        'deploy'    : ['wait'],
        'smoke-test': ['wait'],
    ].asImmutable()

    /** argv is `stepper VERB` and the flags of settings, in the settings' order, then settings.args as written. */
    @NonCPS
    static List<String> argv(String verb, Map settings) {
        List<String> out = ['stepper']
        out.addAll(verb.tokenize(' '))
        for (Map.Entry e in settings.entrySet()) {
            String key = e.key.toString()
            if (LIBRARY_KEYS.contains(key)) {
                continue
            }
            out.addAll(words(key, e.value, NEGATABLE[verb]?.contains(key) ?: false))
        }
        for (Object a in (List) (settings.args ?: [])) {
            out << a.toString()
        }
        return out
    }

    /** words are the flag words one settings key gives. */
    @NonCPS
    static List<String> words(String key, value, boolean negatable) {
        String flag = flag(key)
        if (value == null || value == '') {
            return []
        }
        if (value instanceof Boolean) {
            if (value) {
                return [flag]
            }
            return negatable ? ['--no-' + flag.substring(2)] : []
        }
        if (value instanceof Map) {
            List<String> out = []
            for (Map.Entry e in ((Map) value).entrySet()) {
                out << "${flag}=${e.key}=${e.value == null ? '' : e.value}".toString()
            }
            return out
        }
        if (value instanceof Collection) {
            List<String> out = []
            for (Object v in (Collection) value) {
                if (v != null && v != '') {
                    out << "${flag}=${v}".toString()
                }
            }
            return out
        }
        return ["${flag}=${value}".toString()]
    }

    /** flag is the kebab-case flag of a camelCase key: fromResult is --from-result, b3Path --b3-path. */
    @NonCPS
    static String flag(String key) {
        StringBuilder b = new StringBuilder('--')
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i)
            if (Character.isUpperCase(c)) {
                b.append('-').append(Character.toLowerCase(c))
            } else {
                b.append(c)
            }
        }
        return b.toString()
    }

    /** SECRET_NAME is stepper's own test for a build argument that holds a credential (internal/build.SecretArgName). */
    static final String SECRET_NAME = /(?i).*(pass|secret|token|key|credential|auth|cert|pwd).*/

    /**
     * secretLooking names the keys of a KEY=VALUE map whose names look like
     * credentials: their values would be in stepper's command line, and so
     * in the build log and the agent's process list.
     */
    @NonCPS
    static List<String> secretLooking(Map values) {
        return (values ?: [:]).keySet().findAll { it.toString() ==~ SECRET_NAME }.collect { it.toString() }
    }

    /** line is argv as one sh command line. */
    @NonCPS
    static String line(List<String> argv) {
        return argv.collect { quote(it.toString()) }.join(' ')
    }

    /** quote quotes a word for sh, only when it needs it: 'it''s' style, so nothing inside is expanded. */
    @NonCPS
    static String quote(String word) {
        if (word == '') {
            return "''"
        }
        if (word ==~ /[A-Za-z0-9_@%+=:,.\/-]+/) {
            return word
        }
        return "'" + word.replace("'", "'\"'\"'") + "'"
    }
}
