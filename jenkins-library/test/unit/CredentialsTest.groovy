import dev.stepper.jenkins.Credentials
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

class CredentialsTest {
    static final Map IDS = [signingKey: 'cosign-key', signingPassword: 'cosign-password', registry: 'harbor', git: 'dsf', kubeconfig: 'kc']

    @Test
    void bindingsInKindsOrder() {
        assertEquals([
            [type: 'file', credentialsId: 'cosign-key', variable: 'COSIGN_KEY_FILE'],
            [type: 'string', credentialsId: 'cosign-password', variable: 'COSIGN_PASSWORD'],
            [type: 'usernamePassword', credentialsId: 'harbor', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD'],
            [type: 'gitUsernamePassword', credentialsId: 'dsf'],
            [type: 'file', credentialsId: 'kc', variable: 'KUBECONFIG'],
        ], Credentials.bindings(IDS))
    }

    @Test
    void stepperReadsReferencesNeverSecrets() {
        assertEquals(['STEPPER_SIGNING_PASSWORD=env://COSIGN_PASSWORD',
                      'STEPPER_REGISTRY_CREDENTIALS_USERNAME=env://REGISTRY_USERNAME',
                      'STEPPER_REGISTRY_CREDENTIALS_PASSWORD=env://REGISTRY_PASSWORD'], Credentials.references(IDS))
        assertEquals(['COSIGN_KEY_FILE'], Credentials.fileVariables(IDS))
        assertEquals(['STEPPER_SIGNING_KEY=file:///ws@tmp/secretFiles/1/cosign.key'],
            Credentials.fileReferences(IDS, [COSIGN_KEY_FILE: '/ws@tmp/secretFiles/1/cosign.key']))
    }

    @Test
    void sshAndDockerConfigFilesAsTheirPaths() {
        Map ids = [gitSsh: 'deploy-key', dockerConfig: 'docker-config']
        assertEquals([[type: 'file', credentialsId: 'docker-config', variable: 'DOCKER_CONFIG_FILE'],
                      [type: 'sshUserPrivateKey', credentialsId: 'deploy-key', keyFileVariable: 'GIT_SSH_KEY_FILE']], Credentials.bindings(ids))
        assertEquals(['DOCKER_CONFIG_FILE', 'GIT_SSH_KEY_FILE'], Credentials.fileVariables(ids))
        assertEquals(['STEPPER_REGISTRY_CREDENTIALS_DOCKER_CONFIG=/t/config.json', 'GIT_SSH_COMMAND=ssh -i /t/key -o IdentitiesOnly=yes'],
            Credentials.fileReferences(ids, [DOCKER_CONFIG_FILE: '/t/config.json', GIT_SSH_KEY_FILE: '/t/key']))
    }

    @Test
    void noIdsBindNothing() {
        assertEquals([], Credentials.bindings(Credentials.NONE))
        assertEquals([], Credentials.references(null))
    }

    @Test
    void onlyKeepsTheNamedKinds() {
        Map o = Credentials.only(IDS, ['registry', 'kubeconfig'])
        assertEquals(Credentials.KINDS.keySet(), o.keySet())
        assertEquals([registry: 'harbor', kubeconfig: 'kc'], o.findAll { it.value })
    }

    @Test
    void everyReferenceNamesAStepperKeyVariable() {
        Credentials.KINDS.each { kind, k ->
            ((Map) (k.refs ?: [:]) + (Map) (k.files ?: [:])).keySet().each { assertTrue("${kind}: ${it}", it.startsWith('STEPPER_') || it == 'GIT_SSH_COMMAND') }
            // the secret-holding variables must not look like stepper's own: STEPPER_* that names no key is warned about
            [k.variable, k.usernameVariable, k.passwordVariable, k.keyFileVariable].findAll { it }.each { assertTrue("${kind}: ${it}", !it.startsWith('STEPPER_')) }
        }
    }
}
