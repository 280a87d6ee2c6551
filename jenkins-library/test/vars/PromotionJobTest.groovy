import groovy.json.JsonOutput
import harness.Fixtures
import harness.Harness
import org.junit.Test

import static harness.Fixtures.assertNoSecrets
import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue

/** promotionJob as the eHealth platform runs it: the prod job, platform/promote-prod, promoting preprod → prod. */
class PromotionJobTest {
    static final String DIGEST = 'sha256:' + '4f1c' * 16
    static final Map JOB = [platformConfig: 'platform.yaml', config: 'stepper.yaml', credentials: Fixtures.IDS]
    static final Map PARAMS = [APP: 'patient-api', DIGEST: DIGEST, FROM: 'preprod', TO: 'prod', ALL: false, HOTFIX: false,
                               REQUESTED_BY: 'stepper-bot', ACTION: 'promote', REASON: '', ENVIRONMENT: 'prod']

    static Map promoted(String app = 'patient-api') {
        return [step   : 'promote', status: 'succeeded', env: 'prod', app: app, digest: DIGEST,
                outputs: ['promoted-by': 'alice', via: 'commit', branch: 'master', commit: 'c0ffee123456'],
                details: [from : 'preprod', to: 'prod', actor: 'alice', actorSource: 'Jenkins build causes',
                          releases: [[app: app, image: [Repository: 'registry.admin.ehealth.sundhed.dk/vendor-x/' + app, Tag: '1.4.2', Digest: DIGEST], chartVersion: '3.2.0']],
                          gates: [[gate: 'signed', app: app, passed: true], [gate: 'smoke-tested', app: app, passed: true, evidence: 'sha256-4f1c.att']]]]
    }

    static Harness job(Map params = PARAMS) {
        Harness h = Fixtures.harness()
        h.env.JOB_NAME = 'platform/promote-prod'
        h.env.BUILD_URL = 'https://jenkins.ehealth.example/job/platform/job/promote-prod/7/'
        h.params(params)
        h.onSh('\nstepper promote ', { [status: 0, result: promoted()] })
        return h
    }

    @Test
    void aPromotionFromStartToEnd() {
        Harness h = job().answer(user: 'alice', action: 'proceed')
        assertEquals('SUCCESS', h.call('promotionJob', JOB))
        assertEquals([
            'stepper config show --config=stepper.yaml --platform-config=platform.yaml --output=json',
            "stepper promote --result=stepper-promote.json --junit=stepper-promote.xml --config=stepper.yaml --platform-config=platform.yaml --app=patient-api --from=preprod --to=prod --digest=${DIGEST}".toString(),
            'stepper deploy --result=stepper-deploy-prod.json --config=stepper.yaml --platform-config=platform.yaml --env=prod --app=patient-api --apply --rollback-on-failure',
            'stepper smoke-test --result=stepper-smoke-test-patient-api.json --junit=stepper-smoke-test-patient-api.xml --config=stepper.yaml --platform-config=platform.yaml --env=prod --app=patient-api',
        ], h.commands())

        // the privileged group is asked first, outside any node, before the lock
        Map input = h.callsOf('input')[0]
        assertEquals('sre', input.args.submitter)
        assertEquals('APPROVER', input.args.submitterParameter)
        assertEquals("Promote patient-api ${DIGEST} from preprod to prod (requested by stepper-bot)?".toString(), input.args.message)
        assertNull(input.node)
        assertEquals([], input.locks)
        // everything that changes anything runs under the target's lock
        h.stepperCalls().findAll { !it.line.startsWith('stepper config') }.each { assertEquals(it.line, ['stepper-env-prod'], it.locks) }
        assertEquals(['acquired stepper-env-prod', 'released stepper-env-prod'], h.lockLog)
        // the approver reaches stepper's records as STEPPER_TRIGGERED_BY (never its privilege check)
        h.stepperCalls().findAll { !it.line.startsWith('stepper config') }.each { assertEquals(it.line, 'alice', it.env.STEPPER_TRIGGERED_BY) }

        // each run binds only what it needs: the kubeconfig never reaches promote, the Jenkins token never deploy
        Map bound = h.stepperCalls().collectEntries { [(it.line.tokenize(' ')[1]), it.bound] }
        assertFalse(bound.promote.contains('KUBECONFIG'))
        assertTrue(bound.promote.containsAll(['JENKINS_TOKEN', 'GITLAB_TOKEN', 'GIT_ASKPASS', 'REGISTRY_PASSWORD']))
        assertTrue(bound.deploy.contains('KUBECONFIG'))
        assertFalse(bound.deploy.contains('JENKINS_TOKEN'))
        assertTrue(bound.'smoke-test'.containsAll(['KUBECONFIG', 'EVIDENCE_KEY_FILE', 'EVIDENCE_KEY_PASSWORD']))
        bound.values().each { assertFalse(it.contains('COSIGN_KEY_FILE')) }

        assertEquals("""Promotion preprod → prod: patient-api registry.admin.ehealth.sundhed.dk/vendor-x/patient-api:1.4.2@${DIGEST} (chart 3.2.0)
Promoted by alice (Jenkins build causes); approved by alice; requested by stepper-bot (a build parameter, not used for privilege)
Gates: signed passed; smoke-tested passed [sha256-4f1c.att]
Landed by commit c0ffee123456 on master
Deploy --apply: succeeded
Smoke test patient-api: succeeded
Result: SUCCESS""".toString(), h.currentBuild.description)
        assertNoSecrets(h)
    }

    @Test
    void fromAndToAreChoicesOfThePromotionsTheJobRuns() {
        Harness h = job().answer(user: 'alice', action: 'proceed')
        h.call('promotionJob', JOB)
        List defs = h.jobProperties[0].definitions
        Map byName = defs.collectEntries { [(it.name): it] }
        assertEquals(['FROM', 'TO', 'APP', 'DIGEST', 'ALL', 'HOTFIX', 'REQUESTED_BY', 'ACTION', 'REASON', 'ENVIRONMENT'], defs.collect { it.name })
        assertEquals(['choice', ['preprod']], [byName.FROM.parameter, byName.FROM.choices])
        assertEquals(['choice', ['prod']], [byName.TO.parameter, byName.TO.choices])
        assertEquals(['booleanParam', false], [byName.ALL.parameter, byName.ALL.defaultValue])
        assertEquals(['string', 'prod'], [byName.ENVIRONMENT.parameter, byName.ENVIRONMENT.defaultValue])
    }

    @Test
    void aWrongPairNeverReachesProduction() {
        Harness h = job(PARAMS + [FROM: 'exttest']).answer(user: 'alice', action: 'proceed')
        assertEquals('FAILURE', h.call('promotionJob', JOB))
        assertEquals(['stepper config show --config=stepper.yaml --platform-config=platform.yaml --output=json'], h.commands())
        assertEquals([], h.callsOf('input'))
        assertEquals([], h.callsOf('lock'))
        assertTrue(h.lastError.message, h.lastError.message.contains('FROM/TO exttest → prod is not a promotion this job runs; it runs preprod → prod'))
        assertTrue(h.currentBuild.description.endsWith('Result: FAILURE'))
    }

    @Test
    void anUnprivilegedSubmitterIsRefusedAndNothingRuns() {
        Harness h = job().answer(user: 'mallory', action: 'proceed')
        assertEquals('ABORTED', h.call('promotionJob', JOB))
        assertEquals(['mallory'], h.inputs[0].refused)
        assertNull(h.inputs[0].approver)
        assertEquals(['config'], h.commands().collect { it.tokenize(' ')[1] })
        assertEquals([], h.callsOf('lock'))
        assertEquals('Not approved; requested by stepper-bot (a build parameter, not used for privilege)', h.currentBuild.description.readLines()[1])
        assertTrue(h.currentBuild.description.endsWith('Result: ABORTED'))
    }

    @Test
    void aRefusedAnswerWaitsForAnAllowedOne() {
        Harness h = job().answer(user: 'mallory', action: 'proceed').answer(user: 'bob', action: 'proceed')
        assertEquals('SUCCESS', h.call('promotionJob', JOB))
        assertEquals(['mallory'], h.inputs[0].refused)
        assertEquals('bob', h.inputs[0].approver)
        assertTrue(h.currentBuild.description.contains('approved by bob'))
    }

    @Test
    void noDeployAfterAnAbortedInput() {
        Harness h = job().answer(user: 'alice', action: 'abort')
        assertEquals('ABORTED', h.call('promotionJob', JOB))
        assertEquals(['config'], h.commands().collect { it.tokenize(' ')[1] })
        assertEquals([], h.callsOf('lock'))
    }

    @Test
    void aRefusedPromotionIsUnstableAndDeploysNothing() {
        Harness h = job().answer(user: 'alice', action: 'proceed')
        h.onSh('\nstepper promote ', { [status: 1, result: [step: 'promote', status: 'failed', error: 'promote preprod → prod refused: gate smoke-tested: no evidence from preprod', details: [gates: []]]] })
        assertEquals('UNSTABLE', h.call('promotionJob', JOB))
        assertEquals(['config', 'promote'], h.commands().collect { it.tokenize(' ')[1] })
        assertTrue(h.currentBuild.description.contains('Refused: promote preprod → prod refused: gate smoke-tested'))
        assertTrue(h.currentBuild.description.endsWith('Result: UNSTABLE'))

        h = job().answer(user: 'alice', action: 'proceed')
        h.onSh('\nstepper promote ', { [status: 1, result: [step: 'promote', status: 'failed', error: 'refused']] })
        assertEquals('FAILURE', h.call('promotionJob', JOB + [onRefused: 'FAILURE']))
        assertEquals(['config', 'promote'], h.commands().collect { it.tokenize(' ')[1] })
    }

    @Test
    void exitCodesToBuildResults() {
        [2: 'FAILURE', 3: 'FAILURE', 130: 'ABORTED', 143: 'ABORTED'].each { int code, String want ->
            Harness h = job().answer(user: 'alice', action: 'proceed')
            h.onSh('\nstepper promote ', { [status: code, result: [step: 'promote', status: 'error', error: 'gitlab unreachable']] })
            assertEquals("exit ${code}".toString(), want, h.call('promotionJob', JOB))
            assertEquals(['config', 'promote'], h.commands().collect { it.tokenize(' ')[1] })
            assertTrue(h.currentBuild.description, h.currentBuild.description.endsWith("Result: ${want}"))
        }
    }

    @Test
    void aFailedSmokeTestRollsBack() {
        Harness h = job().answer(user: 'alice', action: 'proceed')
        h.onSh('\nstepper smoke-test ', { [status: 1, result: [step: 'smoke-test', status: 'failed', error: 'smoke-test prod/patient-api: 1 of 3 checks failed']] })
        assertEquals('FAILURE', h.call('promotionJob', JOB))
        String reason = "'--reason=smoke test failed in prod after promotion from preprod (https://jenkins.ehealth.example/job/platform/job/promote-prod/7/)'"
        assertEquals([
            'stepper rollback --result=stepper-rollback-apply-patient-api.json --config=stepper.yaml --platform-config=platform.yaml --env=prod --app=patient-api ' + reason + ' --apply',
            'stepper rollback --result=stepper-rollback-patient-api.json --config=stepper.yaml --platform-config=platform.yaml --env=prod --app=patient-api ' + reason,
        ], h.commands().findAll { it.startsWith('stepper rollback') })
        assertEquals(['config', 'promote', 'deploy', 'smoke-test', 'rollback', 'rollback'], h.commands().collect { it.tokenize(' ')[1] })
        assertEquals('Rollback', h.stepperCalls()[-1].stage)
        assertTrue(h.lastError.message, h.lastError.message.contains('the smoke test failed in prod for patient-api; rolled back'))
        assertTrue(h.currentBuild.description.contains('Smoke test patient-api: failed (smoke-test prod/patient-api: 1 of 3 checks failed)'))
        assertTrue(h.currentBuild.description.contains('Rollback --apply patient-api: succeeded'))
    }

    @Test
    void aFailedDeployStopsBeforeTheSmokeTest() {
        Harness h = job().answer(user: 'alice', action: 'proceed')
        h.onSh('\nstepper deploy ', { [status: 1, result: [step: 'deploy', status: 'failed', error: 'patient-api did not become ready; rolled back to revision 4']] })
        assertEquals('FAILURE', h.call('promotionJob', JOB))
        assertEquals(['config', 'promote', 'deploy'], h.commands().collect { it.tokenize(' ')[1] })
    }

    @Test
    void allPromotesTheWholeEnvironment() {
        Harness h = job(PARAMS + [ALL: true, APP: '', DIGEST: '']).answer(user: 'alice', action: 'proceed')
        Map both = promoted()
        both.details.releases << [app: 'journal-api', image: [Repository: 'r/journal-api', Digest: DIGEST]]
        h.onSh('\nstepper promote ', { [status: 0, result: both] })
        assertEquals('SUCCESS', h.call('promotionJob', JOB))
        List<String> c = h.commands()
        assertTrue(c[1], c[1].endsWith('--all --from=preprod --to=prod'))
        assertEquals('stepper deploy --result=stepper-deploy-prod.json --config=stepper.yaml --platform-config=platform.yaml --env=prod --apply --rollback-on-failure', c[2])
        assertEquals(['patient-api', 'journal-api'], c[3..4].collect { Harness.flagValue(it, '--app') })
        assertEquals('Promote every app that differs from preprod to prod (requested by stepper-bot)?', h.inputs[0].message)
    }

    @Test
    void aRollbackAsStepperRequestsIt() {
        Harness h = job([ACTION: 'rollback', APP: 'patient-api', TO: 'prod', DIGEST: DIGEST, REASON: 'INC-1234: 500s on /login', FROM: 'preprod'])
        h.answer(user: 'bob', action: 'proceed')
        assertEquals('SUCCESS', h.call('promotionJob', JOB))
        assertEquals([
            "stepper rollback --result=stepper-rollback.json --config=stepper.yaml --platform-config=platform.yaml --env=prod --app=patient-api '--reason=INC-1234: 500s on /login' --to=${DIGEST}".toString(),
            'stepper deploy --result=stepper-deploy-prod.json --config=stepper.yaml --platform-config=platform.yaml --env=prod --app=patient-api --apply --rollback-on-failure',
        ], h.commands()[1..-1])
        assertEquals("Roll patient-api in prod back to ${DIGEST}? Reason: INC-1234: 500s on /login".toString(), h.inputs[0].message)
        assertEquals('Roll back', h.callsOf('input')[0].args.ok)
    }

    @Test
    void aSecondPromotionWaitsForTheLock() {
        Harness h = job().answer(user: 'alice', action: 'proceed')
        h.heldElsewhere['stepper-env-prod'] = 'platform/promote-prod #6'
        assertEquals('SUCCESS', h.call('promotionJob', JOB))
        assertEquals(['waited stepper-env-prod', 'acquired stepper-env-prod', 'released stepper-env-prod'], h.lockLog)
        assertTrue(h.log.contains('[stepper-env-prod] is locked by platform/promote-prod #6, waiting...'))
    }

    @Test
    void aJobNoEnvironmentLandsThroughRunsNothing() {
        Harness h = job()
        h.env.JOB_NAME = 'someone/else'
        assertEquals('FAILURE', h.call('promotionJob', JOB + [targets: ['prod']]))
        assertTrue(h.lastError.message, h.lastError.message.contains('no promotion of the chain devenvcgi → exttest → preprod → prod lands through this job (someone/else)'))
        assertEquals([], h.callsOf('input'))
    }

    @Test
    void aTargetWithoutPromotersNeedsASubmitter() {
        Map config = Fixtures.config('ehealth-vendor')
        config.environments.find { it.name == 'prod' }.remove('promoters')
        Harness h = job().answer(user: 'alice', action: 'proceed')
        h.onSh('^stepper config show', { [stdout: JsonOutput.toJson(config)] })
        assertEquals('FAILURE', h.call('promotionJob', JOB))
        assertTrue(h.lastError.message, h.lastError.message.contains('nobody may approve a change of prod'))
        assertEquals([], h.callsOf('input'))

        h = job().answer(user: 'maria', action: 'proceed')
        h.onSh('^stepper config show', { [stdout: JsonOutput.toJson(config)] })
        assertEquals('SUCCESS', h.call('promotionJob', JOB + [submitter: 'hostedshop-maintainers']))
        assertEquals('hostedshop-maintainers', h.callsOf('input')[0].args.submitter)
    }

    @Test
    void anUnknownKeyStopsTheJob() {
        Harness h = job()
        assertEquals('FAILURE', h.call('promotionJob', JOB + [submiter: 'sre', onRefused: 'IGNORE']))
        assertTrue(h.lastError.message, h.lastError.message.contains('unknown key submiter; did you mean submitter?'))
        assertTrue(h.lastError.message, h.lastError.message.contains('onRefused is IGNORE'))
        assertEquals([], h.shCalls())
    }
}
