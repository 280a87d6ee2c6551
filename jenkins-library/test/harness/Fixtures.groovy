package harness

import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic

import static org.junit.Assert.assertFalse
import static org.junit.Assert.fail

/**
 * What the library's tests share: a harness with the library loaded, the
 * platform's users and credentials (each secret a canary that must never
 * be seen in a command line or the log), and `stepper config show` answered
 * with a real stepper's output for a sample configuration
 * (test/fixtures/config-*.json, kept current by the Go test).
 */
class Fixtures {
    /** Credential ids and their canary secrets. */
    static final Map<String, Map> CREDENTIALS = [
        'cosign-key'      : [type: 'file', fileName: 'cosign.key', content: '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nCANARY-signing-key-8c1f\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n'],
        'cosign-password' : [type: 'string', secret: 'CANARY-cosign-password-77d2'],
        'evidence-key'    : [type: 'file', fileName: 'evidence.key', content: 'CANARY-evidence-key-03ab'],
        'evidence-pass'   : [type: 'string', secret: 'CANARY-evidence-password-a41e'],
        'harbor-robot'    : [type: 'usernamePassword', username: 'robot$vendor-x', password: 'CANARY-harbor-password-9e0c'],
        'gitlab-token'    : [type: 'string', secret: 'CANARY-gitlab-token-51f7'],
        'jenkins-api'     : [type: 'usernamePassword', username: 'stepper-bot', password: 'CANARY-jenkins-token-c3d9'],
        'dsf-git'         : [type: 'usernamePassword', username: 'oauth2', password: 'CANARY-git-token-66b0'],
        'flux-deploy-key' : [type: 'sshUserPrivateKey', content: '-----BEGIN OPENSSH PRIVATE KEY-----\nCANARY-ssh-key-7a3c\n-----END OPENSSH PRIVATE KEY-----\n'],
        'docker-config'   : [type: 'file', fileName: 'config.json', content: '{"auths":{"docker.io":{"auth":"CANARY-docker-auth-1f9b"}}}'],
        'prod-kubeconfig' : [type: 'file', fileName: 'kubeconfig', content: 'apiVersion: v1\nusers: [{name: u, user: {token: CANARY-kube-token-2d8e}}]\n'],
    ].asImmutable()

    /** The ids the tests pass as credentials, by kind. */
    static final Map IDS = [
        signingKey      : 'cosign-key',
        signingPassword : 'cosign-password',
        evidenceKey     : 'evidence-key',
        evidencePassword: 'evidence-pass',
        registry        : 'harbor-robot',
        gitlab          : 'gitlab-token',
        jenkins         : 'jenkins-api',
        git             : 'dsf-git',
        kubeconfig      : 'prod-kubeconfig',
    ].asImmutable()

    static File library() {
        return new File(System.getProperty('stepper.library') ?: '.')
    }

    static Map config(String name) {
        return (Map) new JsonSlurperClassic().parse(new File(library(), "test/fixtures/config-${name}.json"))
    }

    /** harness is a fresh run with the library loaded, the sample configuration name behind `stepper config show`. */
    static Harness harness(String sample = 'ehealth-vendor') {
        Harness h = new Harness(library()).loadVars()
        h.resourcesDir = new File(library(), 'test/fixtures/resources')
        CREDENTIALS.each { id, c -> h.credential(id, c) }
        h.user('alice', groups: ['sre'])
        h.user('bob', groups: ['sre'])
        h.user('maria', groups: ['hostedshop-maintainers'])
        h.user('mallory', groups: ['vendor-x-developers'], cancel: true)
        h.user('admin', admin: true)
        String json = JsonOutput.toJson(config(sample))
        h.onSh('^stepper config show', { [stdout: json] })
        return h
    }

    /** assertNoSecrets: no canary, and no secret the run bound, is in a command line, a step's arguments or the log. */
    static void assertNoSecrets(Harness h) {
        Set<String> secrets = new LinkedHashSet<String>(h.secrets)
        CREDENTIALS.values().each { c -> [c.secret, c.password, c.content?.trim()].findAll { it }.each { secrets << it } }
        secrets.addAll(['CANARY-signing-key-8c1f', 'CANARY-kube-token-2d8e', 'CANARY-ssh-key-7a3c', 'CANARY-docker-auth-1f9b'])
        for (String s in secrets) {
            h.shCalls().each { c ->
                assertFalse("secret ${s.take(12)}… in the command line ${c.script}", c.script.contains(s))
            }
            h.log.each { line ->
                assertFalse("secret ${s.take(12)}… in the log line ${line}", line.contains(s))
            }
            h.calls.findAll { it.step != 'sh' }.each { c ->
                assertFalse("secret ${s.take(12)}… in the arguments of ${c.step}: ${c.args}", c.args.toString().contains(s))
            }
        }
    }

    /** stepperLine is the one command line of verb, failing when there is not exactly one. */
    static String line(Harness h, String verb) {
        List<String> lines = h.commands().findAll { it.startsWith("stepper ${verb} ") }
        if (lines.size() != 1) {
            fail("want one stepper ${verb}, ran ${lines.size()}:\n${h.commands().join('\n')}")
        }
        return lines[0]
    }
}
