import dev.stepper.jenkins.Command
import org.junit.Test

import static org.junit.Assert.assertEquals

class CommandTest {
    @Test
    void keysAreFlagsInTheSettingsOrder() {
        Map s = [result: 'r.json', junit: null, credentials: [registry: 'x'], binary: [:], onFailed: 'FAILURE', args: [],
                 env: 'inttest', fromResult: 'build.json', set: [replicas: 2, 'env.LOG': 'info'], values: ['a.yaml', 'b.yaml'],
                 force: false, apply: true, wait: false, b3Path: '/api/ping', chartVersion: '']
        assertEquals(['stepper', 'deploy', '--result=r.json', '--env=inttest', '--from-result=build.json', '--set=replicas=2',
                      '--set=env.LOG=info', '--values=a.yaml', '--values=b.yaml', '--apply', '--no-wait', '--b3-path=/api/ping'],
            Command.argv('deploy', s))
    }

    @Test
    void waitFalseIsLeftOutWhereTheVerbCannotNegateIt() {
        assertEquals(['stepper', 'promote'], Command.argv('promote', [wait: false]))
        assertEquals(['stepper', 'promote', '--wait'], Command.argv('promote', [wait: true]))
    }

    @Test
    void argsComeLastAsWritten() {
        assertEquals(['stepper', 'config', 'show', '--config=s.yaml', '--sources'], Command.argv('config show', [config: 's.yaml', args: ['--sources']]))
    }

    @Test
    void everyWordTheShellWouldReadIsQuoted() {
        assertEquals("stepper rollback '--reason=500s on /login; rm -rf \$HOME' '--reason=it'\"'\"'s \$(id)' --env=prod",
            Command.line(['stepper', 'rollback', '--reason=500s on /login; rm -rf $HOME', "--reason=it's \$(id)", '--env=prod']))
        assertEquals("''", Command.quote(''))
        assertEquals('--image=harbor.example/vendor/api:1.4.2@sha256:4f1c', Command.quote('--image=harbor.example/vendor/api:1.4.2@sha256:4f1c'))
        assertEquals("'a\nb'", Command.quote('a\nb'))
    }

    @Test
    void flagNames() {
        assertEquals('--from-oci-layout', Command.flag('fromOciLayout'))
        assertEquals('--b3-listen', Command.flag('b3Listen'))
        assertEquals('--platform-config', Command.flag('platformConfig'))
        assertEquals('--kube-context', Command.flag('kubeContext'))
    }

    @Test
    void credentialLookingBuildArguments() {
        assertEquals(['NPM_TOKEN', 'db_password', 'AUTH'], Command.secretLooking([VERSION: '1', NPM_TOKEN: 'x', db_password: 'y', AUTH: 'z', BUILD_DATE: 'd']))
    }
}
