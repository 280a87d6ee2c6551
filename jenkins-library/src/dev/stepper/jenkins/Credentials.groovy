package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Which Jenkins credentials the library binds, and how stepper finds them.
 *
 * A global variable takes credential ids (credentials: [registry: 'harbor-robot']).
 * Each kind is bound with withCredentials into fixed variables, and stepper
 * reads them through a STEPPER_* configuration variable that holds only a
 * reference (env://NAME or file://PATH), never the secret. So a secret is
 * never in a command line, a Groovy string, the build's parameters or a
 * file that outlives the block; stepper registers and masks each one it
 * resolves.
 */
class Credentials implements Serializable {
    private static final long serialVersionUID = 1L

    /**
     * Every kind: the Jenkins credential type, the variables the binding
     * fills, and the stepper.yaml keys that reference them (as the
     * STEPPER_<KEY_PATH> variable that sets the key). A file's path is
     * known only inside the block: files maps a variable to the bound
     * variable whose path it takes, as file://PATH, or to [variable,
     * format] where the path fills the format's %s.
     */
    static final Map KINDS = [
        // Secret file: the cosign private key that signs images (signing.key).
        signingKey      : [type: 'file', variable: 'COSIGN_KEY_FILE',
                           files: [STEPPER_SIGNING_KEY: 'COSIGN_KEY_FILE']],
        // Secret text: its password (signing.password).
        signingPassword : [type: 'string', variable: 'COSIGN_PASSWORD',
                           refs: [STEPPER_SIGNING_PASSWORD: 'COSIGN_PASSWORD']],
        // Secret file: the key validate --attest and smoke-test sign evidence with (signing.evidenceKey).
        evidenceKey     : [type: 'file', variable: 'EVIDENCE_KEY_FILE',
                           files: [STEPPER_SIGNING_EVIDENCE_KEY: 'EVIDENCE_KEY_FILE']],
        // Secret text: its password (signing.evidencePassword).
        evidencePassword: [type: 'string', variable: 'EVIDENCE_KEY_PASSWORD',
                           refs: [STEPPER_SIGNING_EVIDENCE_PASSWORD: 'EVIDENCE_KEY_PASSWORD']],
        // Username with password: the registry robot account (registry.credentials).
        registry        : [type: 'usernamePassword', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD',
                           refs: [STEPPER_REGISTRY_CREDENTIALS_USERNAME: 'REGISTRY_USERNAME', STEPPER_REGISTRY_CREDENTIALS_PASSWORD: 'REGISTRY_PASSWORD']],
        // Secret text: a GitLab token for merge requests and group membership (gitlab.token).
        gitlab          : [type: 'string', variable: 'GITLAB_TOKEN',
                           refs: [STEPPER_GITLAB_TOKEN: 'GITLAB_TOKEN']],
        // Username with password: a Jenkins user and API token, to trigger promotion jobs (jenkins.user, jenkins.token).
        jenkins         : [type: 'usernamePassword', usernameVariable: 'JENKINS_USER', passwordVariable: 'JENKINS_TOKEN',
                           refs: [STEPPER_JENKINS_USER: 'JENKINS_USER', STEPPER_JENKINS_TOKEN: 'JENKINS_TOKEN']],
        // Secret file: a Docker config.json to log in to the registry with, instead (registry.credentials.dockerConfig).
        dockerConfig    : [type: 'file', variable: 'DOCKER_CONFIG_FILE',
                           files: [STEPPER_REGISTRY_CREDENTIALS_DOCKER_CONFIG: ['DOCKER_CONFIG_FILE', '%s']]],
        // Username with password for the desired-state repository over HTTPS: the git plugin's
        // gitUsernamePassword binding sets GIT_ASKPASS, one of the few variables stepper hands to git.
        git             : [type: 'gitUsernamePassword'],
        // SSH private key for the desired-state repository over SSH: GIT_SSH_COMMAND, which stepper hands to git.
        gitSsh          : [type: 'sshUserPrivateKey', keyFileVariable: 'GIT_SSH_KEY_FILE',
                           files: [GIT_SSH_COMMAND: ['GIT_SSH_KEY_FILE', 'ssh -i %s -o IdentitiesOnly=yes']]],
        // Secret file: the kubeconfig of the cluster deploy --apply, smoke-test and rollback --apply use.
        kubeconfig      : [type: 'file', variable: 'KUBECONFIG'],
    ].asImmutable()

    /** The arguments a binding takes that name variables. */
    static final List<String> ARGS = ['variable', 'usernameVariable', 'passwordVariable', 'keyFileVariable'].asImmutable()

    /** NONE binds nothing: every kind, no id. */
    static final Map NONE = KINDS.keySet().collectEntries { [(it): null] }.asImmutable()

    /** bindings are the withCredentials bindings for ids, in KINDS order, as [type, and the binding's arguments]. */
    @NonCPS
    static List<Map> bindings(Map ids) {
        List<Map> out = []
        for (Map.Entry k in KINDS.entrySet()) {
            String id = ids == null ? null : (String) ids[k.key]
            if (!id) {
                continue
            }
            Map kind = (Map) k.value
            Map b = [type: kind.type, credentialsId: id]
            for (String arg in ARGS) {
                if (kind[arg]) {
                    b[arg] = kind[arg]
                }
            }
            out << b
        }
        return out
    }

    /** references are the STEPPER_*=env://NAME variables of ids: references only, set before the secrets are bound. */
    @NonCPS
    static List<String> references(Map ids) {
        List<String> out = []
        for (Map.Entry k in KINDS.entrySet()) {
            if (ids && ids[k.key]) {
                for (Map.Entry r in ((Map) (k.value.refs ?: [:])).entrySet()) {
                    out << "${r.key}=env://${r.value}".toString()
                }
            }
        }
        return out
    }

    /** fileVariables name the variables that hold the paths of bound secret files a reference needs. */
    @NonCPS
    static List<String> fileVariables(Map ids) {
        List<String> out = []
        for (Map.Entry k in KINDS.entrySet()) {
            if (ids && ids[k.key]) {
                for (Object f in ((Map) (k.value.files ?: [:])).values()) {
                    out << (String) (f instanceof List ? ((List) f)[0] : f)
                }
            }
        }
        return out
    }

    /** fileReferences are the STEPPER_*=file://PATH variables, given the paths the binding chose (not secret). */
    @NonCPS
    static List<String> fileReferences(Map ids, Map paths) {
        List<String> out = []
        for (Map.Entry k in KINDS.entrySet()) {
            if (ids && ids[k.key]) {
                for (Map.Entry f in ((Map) (k.value.files ?: [:])).entrySet()) {
                    List spec = f.value instanceof List ? (List) f.value : [f.value, 'file://%s']
                    out << "${f.key}=${String.format((String) spec[1], paths[spec[0]])}".toString()
                }
            }
        }
        return out
    }

    /** only is ids with every kind but names left out: a stage binds what it needs and nothing else. */
    @NonCPS
    static Map only(Map ids, List<String> names) {
        Map out = new LinkedHashMap(NONE)
        for (String n in names) {
            out[n] = ids == null ? null : ids[n]
        }
        return out
    }
}
