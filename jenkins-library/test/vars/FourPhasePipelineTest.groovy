import harness.Fixtures
import harness.Harness
import org.junit.Test

import static harness.Fixtures.assertNoSecrets
import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue

/** fourPhasePipeline: the shop's chain (staging → production by tag) and the eHealth vendor chain (four environments, three routes). */
class FourPhasePipelineTest {
    static final String DIGEST = 'sha256:' + '9d0e' * 16
    static final Map ARGS = [app: 'blog-service', agent: 'linux', signAgent: 'signer', credentials: Fixtures.IDS,
                             smokeTestPerEnv: [staging: [url: 'https://blog.staging.example'], production: [url: 'https://blog.example']]]

    static Harness pipeline(String sample = 'shop') {
        Harness h = Fixtures.harness(sample)
        h.onSh('\nstepper build-sign-push --result=stepper-sign.json', {
            [status: 0, result: [step: 'build-sign-push', status: 'succeeded', app: 'blog-service', digest: DIGEST,
                                 image: 'registry.example/hostedshop/blog-service:stag-1a2b3c4-1763400000']]
        })
        return h
    }

    static List<String> verbs(Harness h) {
        return h.commands().collect { String l -> List w = l.tokenize(' '); w[1] == 'config' ? 'config' : w[1] + (l.contains('--env=') ? ' ' + Harness.flagValue(l, '--env') : '') + (l.contains('--to=') ? ' →' + Harness.flagValue(l, '--to') : '') }
    }

    @Test
    void fourPhasesAndAPromotion() {
        Harness h = pipeline().answer(user: 'maria', action: 'proceed')
        assertEquals('SUCCESS', h.call('fourPhasePipeline', ARGS))
        assertEquals([
            'stepper config show --output=json',
            'stepper build-sign-push --result=stepper-build.json --phase=build --app=blog-service',
            'stepper build-sign-push --result=stepper-sign.json --phase=sign --from-result=stepper-build.json',
            'stepper validate --result=stepper-validate.json --junit=stepper-validate.xml --from-result=stepper-sign.json --attest',
            'stepper deploy --result=stepper-deploy-staging.json --env=staging --app=blog-service --from-result=stepper-sign.json',
            'stepper smoke-test --result=stepper-smoke-test-staging.json --junit=stepper-smoke-test-staging.xml --env=staging --app=blog-service --url=https://blog.staging.example --from-result=stepper-sign.json',
            "stepper promote --result=stepper-promote-production.json --junit=stepper-promote-production.xml --app=blog-service --from=staging --to=production --digest=${DIGEST}".toString(),
            'stepper smoke-test --result=stepper-smoke-test-production.json --junit=stepper-smoke-test-production.xml --env=production --app=blog-service --url=https://blog.example --from-result=stepper-sign.json',
        ], h.commands())
        assertEquals(['Build', 'Build', 'Sign', 'Validate', 'Deploy', 'Smoke test', 'Promote to production', 'Promote to production'],
            h.stepperCalls().collect { it.stage })

        // the signing key is bound in the sign stage only, on the signing agents
        h.stepperCalls().each { c ->
            boolean signing = c.line.contains('--phase=sign')
            assertEquals(c.line, signing, c.bound.contains('COSIGN_KEY_FILE'))
            assertEquals(c.line, signing, c.bound.contains('COSIGN_PASSWORD'))
        }
        assertEquals('signer', h.stepperCalls()[2].node)
        assertEquals('linux', h.stepperCalls()[3].node)

        // the promotion waits for the target's promoters, holding no executor
        Map input = h.callsOf('input')[0]
        assertEquals('hostedshop-maintainers', input.args.submitter)
        assertEquals("Promote blog-service ${DIGEST} from staging to production?".toString(), input.args.message)
        assertNull(input.node)
        assertEquals('maria', h.inputs[0].approver)
        assertNoSecrets(h)
    }

    @Test
    void aFailedSmokeTestRollsTheFirstEnvironmentBack() {
        Harness h = pipeline().answer(user: 'maria', action: 'proceed')
        h.onSh('\nstepper smoke-test ', { [status: 1, result: [step: 'smoke-test', status: 'failed', error: 'smoke-test staging/blog-service: GET /healthz: status 503']] })
        assertEquals('FAILURE', h.call('fourPhasePipeline', ARGS))
        assertEquals("stepper rollback --result=stepper-rollback-staging.json --env=staging --app=blog-service '--reason=smoke test failed in staging: smoke-test staging/blog-service: GET /healthz: status 503'",
            h.commands()[-1])
        assertEquals('Smoke test', h.stepperCalls()[-1].stage)
        assertEquals([], h.callsOf('input'))
        assertEquals(['Promote'], h.callsOf('stage-skipped').collect { it.args.name })
        assertTrue(h.lastError.message.contains('blog-service was rolled back there and is held'))
    }

    @Test
    void anUnprivilegedApproverPromotesNothing() {
        Harness h = pipeline().answer(user: 'mallory', action: 'proceed')
        assertEquals('ABORTED', h.call('fourPhasePipeline', ARGS))
        assertEquals(['mallory'], h.inputs[0].refused)
        assertFalse(h.commands().any { it.startsWith('stepper promote') })
    }

    @Test
    void theEHealthChainInOrderEachRouteItsWay() {
        Harness h = pipeline('ehealth-vendor')
        3.times { h.answer(user: 'alice', action: 'proceed') }
        assertEquals('SUCCESS', h.call('fourPhasePipeline', [app: 'patient-api', platformConfig: 'platform.yaml']))
        assertEquals(['config', 'build-sign-push', 'build-sign-push', 'validate', 'deploy devenvcgi', 'smoke-test devenvcgi',
                      'promote →exttest',              // lands through the exttest job, which deploys and smoke-tests
                      'promote →preprod', 'smoke-test preprod', // a merge request: promote waits for the merge
                      'promote →prod'], verbs(h))
        assertTrue(h.commands()[7], h.commands()[7].contains('--wait'))
        assertFalse(h.commands()[6].contains('--wait'))
        assertEquals(['exttest', 'preprod', 'prod'], h.inputs.collect { it.message.tokenize(' ')[-1] - '?' })
        assertEquals(['sre', 'sre', 'sre'], h.inputs.collect { it.submitter })
        assertTrue(h.commands().every { it.contains('--platform-config=platform.yaml') })
    }

    @Test
    void promoteToStopsTheChain() {
        Harness h = pipeline('ehealth-vendor').answer(user: 'alice', action: 'proceed')
        assertEquals('SUCCESS', h.call('fourPhasePipeline', [app: 'patient-api', promoteTo: 'exttest']))
        assertEquals(1, h.inputs.size())
        assertEquals(['promote →exttest'], verbs(h).findAll { it.startsWith('promote') })
    }

    @Test
    void aFailedSmokeTestAfterAPromotionStopsTheChain() {
        Harness h = pipeline('ehealth-vendor')
        3.times { h.answer(user: 'alice', action: 'proceed') }
        h.onSh('\nstepper smoke-test .*--env=preprod', { [status: 1, result: [step: 'smoke-test', status: 'failed', error: 'checks failed']] })
        assertEquals('FAILURE', h.call('fourPhasePipeline', [app: 'patient-api']))
        assertEquals(['promote →exttest', 'promote →preprod', 'smoke-test preprod', 'rollback preprod'], verbs(h)[6..-1])
        assertEquals(2, h.inputs.size())
    }

    @Test
    void anUnknownKeyStopsThePipeline() {
        Harness h = pipeline()
        assertEquals('FAILURE', h.call('fourPhasePipeline', [ap: 'x']))
        assertTrue(h.lastError.message, h.lastError.message.contains('unknown key ap; did you mean app?'))
        assertEquals([], h.shCalls())
    }
}
