import harness.Fixtures
import harness.Harness
import org.junit.Test

import static harness.Fixtures.assertNoSecrets
import static harness.Fixtures.line
import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue

/** The six verb variables: the exact stepper command lines, the credentials, the result read back, JUnit, exit codes. */
class VerbsTest {
    static final String DIGEST = 'sha256:' + 'ab12' * 16

    @Test
    void eachVerbsCommandLine() {
        Map<String, List> cases = [
            'stepperBuildSignPush': [[phase: 'build', app: 'patient-api', tag: ['1.4.2'], buildArg: [VERSION: '1.4.2'], builder: 'buildah'],
                                   'stepper build-sign-push --result=stepper-build-sign-push.json --phase=build --app=patient-api --tag=1.4.2 --builder=buildah --build-arg=VERSION=1.4.2'],
            'stepperValidate'   : [[fromResult: 'signed.json', chart: './chart', values: ['values-exttest.yaml'], attest: true],
                                   'stepper validate --result=stepper-validate.json --junit=stepper-validate.xml --from-result=signed.json --chart=./chart --values=values-exttest.yaml --attest'],
            'stepperDeploy'     : [[env: 'devenvcgi', fromResult: 'signed.json', set: ['env.LOG_LEVEL': 'info'], message: 'INC-1 fix'],
                                   "stepper deploy --result=stepper-deploy.json --env=devenvcgi --from-result=signed.json --set=env.LOG_LEVEL=info '--message=INC-1 fix'"],
            'stepperSmokeTest'  : [[env: 'devenvcgi', app: 'patient-api', url: 'https://patients.devenvcgi.example', check: ['/api/ping json=status=ok'], wait: false, soak: '0'],
                                   "stepper smoke-test --result=stepper-smoke-test.json --junit=stepper-smoke-test.xml --env=devenvcgi --app=patient-api --url=https://patients.devenvcgi.example '--check=/api/ping json=status=ok' --soak=0 --no-wait"],
            'stepperPromote'    : [[app: 'patient-api', from: 'devenvcgi', digest: DIGEST, hotfix: false],
                                   "stepper promote --result=stepper-promote.json --junit=stepper-promote.xml --app=patient-api --from=devenvcgi --digest=${DIGEST}"],
            'stepperRollback'   : [[env: 'exttest', app: 'patient-api', reason: '500s on /login', apply: true, config: 'stepper.yaml', platformConfig: '/etc/stepper/platform.yaml'],
                                   "stepper rollback --result=stepper-rollback.json --config=stepper.yaml --platform-config=/etc/stepper/platform.yaml --env=exttest --app=patient-api '--reason=500s on /login' --apply"],
        ]
        cases.each { String name, List c ->
            Harness h = Fixtures.harness()
            assertEquals(name, 'SUCCESS', h.call(name, (Map) c[0]))
            assertEquals(name, [c[1].toString()], h.commands())
        }
    }

    @Test
    void theResultFileIsReadBackAndReturned() {
        Harness h = Fixtures.harness()
        h.onSh('^rm .*\nstepper deploy ', { [status: 0, result: [step: 'deploy', status: 'succeeded', env: 'devenvcgi', outputs: [commit: 'abc123']]] })
        Map r
        assertEquals('SUCCESS', h.run { r = stepperDeploy(env: 'devenvcgi', fromResult: 'signed.json') })
        assertEquals('abc123', r.outputs.commit)
        assertEquals(0, r.exitCode)
        // a stale result file is removed before stepper runs, so it is never read back as this run's
        assertEquals('rm -f -- stepper-deploy.json', h.shCalls()[-1].script.readLines()[0])
    }

    @Test
    void theBinaryIsVerifiedFirstAndPutFirstOnPath() {
        Harness h = Fixtures.harness()
        h.call('stepperValidate', [fromResult: 'signed.json'])
        List sh = h.shCalls()
        assertEquals(2, sh.size())
        assertTrue(sh[0].args.label, sh[0].args.label.contains('find and verify'))
        assertTrue(sh[0].script.contains("  linux-amd64) want=1111111111111111111111111111111111111111111111111111111111111111 ;;"))
        assertTrue(sh[1].env.PATH.startsWith('/opt/stepper:'))
    }

    @Test
    void withoutPinnedSumsNothingRuns() {
        Harness h = Fixtures.harness()
        h.resourcesDir = new File(Fixtures.library(), 'resources')
        Map pin = (Map) new groovy.json.JsonSlurperClassic().parse(new File(h.resourcesDir, 'dev/stepper/jenkins/stepper.json'))
        if (pin.sha256.values().any { it }) {
            return // a released library pins its sums
        }
        assertEquals('FAILURE', h.call('stepperDeploy', [env: 'devenvcgi']))
        assertEquals([], h.shCalls())
        assertTrue(h.log.join('\n'), h.log.any { it.contains('no sha256 is pinned for v0.1.0') })
    }

    @Test
    void credentialsReachStepperOnlyAsReferences() {
        Harness h = Fixtures.harness()
        Map seen = [:]
        h.onSh('\nstepper build-sign-push ', { Map c ->
            seen.env = c.env
            seen.keyFile = c.env.COSIGN_KEY_FILE
            seen.keyText = new File(c.env.COSIGN_KEY_FILE).text
            [status: 0, result: [step: 'build-sign-push', status: 'succeeded']]
        })
        String result = h.call('stepperBuildSignPush', [phase: 'sign', fromResult: 'build.json',
                                                        credentials: [signingKey: 'cosign-key', signingPassword: 'cosign-password', registry: 'harbor-robot']])
        assertEquals('SUCCESS', result)
        assertEquals([[credentialsId: 'cosign-key', variable: 'COSIGN_KEY_FILE', type: 'file'],
                      [credentialsId: 'cosign-password', variable: 'COSIGN_PASSWORD', type: 'string'],
                      [credentialsId: 'harbor-robot', usernameVariable: 'REGISTRY_USERNAME', passwordVariable: 'REGISTRY_PASSWORD', type: 'usernamePassword']],
            h.callsOf('withCredentials')[0].args.bindings)
        assertEquals('file://' + seen.keyFile, seen.env.STEPPER_SIGNING_KEY)
        assertEquals('env://COSIGN_PASSWORD', seen.env.STEPPER_SIGNING_PASSWORD)
        assertEquals('env://REGISTRY_USERNAME', seen.env.STEPPER_REGISTRY_CREDENTIALS_USERNAME)
        assertEquals('env://REGISTRY_PASSWORD', seen.env.STEPPER_REGISTRY_CREDENTIALS_PASSWORD)
        assertEquals('CANARY-cosign-password-77d2', seen.env.COSIGN_PASSWORD)
        assertTrue(seen.keyText.contains('CANARY-signing-key-8c1f'))
        assertFalse('the key file outlived the block', new File(seen.keyFile).exists())
        assertNull('a secret stayed in the environment', h.env.COSIGN_PASSWORD)
        assertEquals('stepper build-sign-push --result=stepper-build-sign-push.json --phase=sign --from-result=build.json', line(h, 'build-sign-push'))
        assertNoSecrets(h)
    }

    @Test
    void anUnknownCredentialStopsTheBuildBeforeStepper() {
        Harness h = Fixtures.harness()
        assertEquals('FAILURE', h.call('stepperPromote', [from: 'devenvcgi', app: 'a', credentials: [gitlab: 'no-such-id']]))
        assertEquals([], h.commands())
        assertTrue(h.lastError.message, h.lastError.message.contains("Could not find credentials entry with ID 'no-such-id'"))
    }

    @Test
    void aSecretLookingBuildArgumentIsRefused() {
        Harness h = Fixtures.harness()
        assertEquals('FAILURE', h.call('stepperBuildSignPush', [buildArg: [NPM_TOKEN: 'CANARY-npm-token', VERSION: '1']]))
        assertEquals([], h.shCalls())
        assertTrue(h.lastError.message, h.lastError.message.contains('buildArg NPM_TOKEN looks like a credential'))
        assertFalse(h.log.any { it.contains('CANARY-npm-token') })
    }

    @Test
    void anUnknownKeyIsRefusedWithTheClosestOne() {
        Harness h = Fixtures.harness()
        assertEquals('FAILURE', h.call('stepperDeploy', [enviroment: 'devenvcgi', onFailed: 'IGNORE']))
        assertEquals([], h.shCalls())
        assertTrue(h.lastError.message, h.lastError.message.contains('deploy: unknown key enviroment'))
        assertTrue(h.lastError.message, h.lastError.message.contains('onFailed is IGNORE'))
    }

    @Test
    void exitCodesToBuildResults() {
        // [exit code, onFailed, build result, the variable returned its result]
        List cases = [
            [0, 'FAILURE', 'SUCCESS', true],
            [1, 'FAILURE', 'FAILURE', false],
            [1, 'UNSTABLE', 'UNSTABLE', true],
            [1, 'RETURN', 'SUCCESS', true],
            [2, 'RETURN', 'FAILURE', false],
            [3, 'UNSTABLE', 'FAILURE', false],
            [130, 'RETURN', 'ABORTED', false],
            [143, 'FAILURE', 'ABORTED', false],
            [127, 'RETURN', 'FAILURE', false],
        ]
        cases.each { int code, String onFailed, String want, boolean returned ->
            Harness h = Fixtures.harness()
            h.onSh('\nstepper smoke-test ', { [status: code, result: [step: 'smoke-test', status: 'x', error: 'smoke-test devenvcgi/api: 1 of 3 checks failed']] })
            Map r = null
            String got = h.run { r = stepperSmokeTest(env: 'devenvcgi', onFailed: onFailed) }
            assertEquals("exit ${code}, onFailed ${onFailed}".toString(), want, got)
            assertEquals("exit ${code}, onFailed ${onFailed}: returned".toString(), returned, r != null)
            if (!returned) {
                assertTrue(h.lastError.message, h.lastError.message.startsWith("stepper smoke-test: exit ${code} ("))
            }
        }
    }

    @Test
    void aRunThatWroteNoResultStillReturnsOne() {
        Harness h = Fixtures.harness()
        h.onSh('\nstepper promote ', { [status: 1] })
        Map r
        assertEquals('SUCCESS', h.run { r = stepperPromote(from: 'devenvcgi', onFailed: 'RETURN') })
        assertEquals([step: 'promote', status: 'failed', exitCode: 1,
                      error: 'stepper promote wrote no result file (exit 1, a check failed or a gate refused); its log above says why'], r)
    }

    @Test
    void junitIsPublishedWhereTheVerbHasChecks() {
        String failing = '<testsuites><testsuite name="smoke"><testcase name="GET /healthz"/><testcase name="GET /api/ping"><failure message="status 500"/></testcase></testsuite></testsuites>'
        Harness h = Fixtures.harness()
        h.onSh('\nstepper smoke-test ', { [status: 1, result: [step: 'smoke-test', status: 'failed'], junit: failing] })
        assertEquals('UNSTABLE', h.call('stepperSmokeTest', [env: 'devenvcgi', onFailed: 'UNSTABLE']))
        assertEquals([testResults: 'stepper-smoke-test.xml', allowEmptyResults: true, skipMarkingBuildUnstable: false], h.callsOf('junit')[0].args)
        assertEquals(1, h.junitReports[0].failCount)

        // RETURN leaves the result to the caller: the failed case does not mark the build
        h = Fixtures.harness()
        h.onSh('\nstepper smoke-test ', { [status: 1, result: [step: 'smoke-test', status: 'failed'], junit: failing] })
        assertEquals('SUCCESS', h.call('stepperSmokeTest', [env: 'devenvcgi', onFailed: 'RETURN']))

        // deploy has no checks: no --junit, nothing published
        h = Fixtures.harness()
        h.call('stepperDeploy', [env: 'devenvcgi'])
        assertEquals([], h.callsOf('junit'))
        assertFalse(line(h, 'deploy').contains('--junit'))
    }
}
