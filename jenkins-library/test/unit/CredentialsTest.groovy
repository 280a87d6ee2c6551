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
            ((Map) (k.refs ?: [:]) + (Map) (k.files ?: [:])).keySet().each { assertTrue("${kind}: ${it}", it.startsWith('STEPPER_')) }
            // the secret-holding variables must not look like stepper's own: STEPPER_* that names no key is warned about
            [k.variable, k.usernameVariable, k.passwordVariable].findAll { it }.each { assertTrue("${kind}: ${it}", !it.startsWith('STEPPER_')) }
        }
    }
}
