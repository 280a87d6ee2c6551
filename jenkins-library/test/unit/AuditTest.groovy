import dev.stepper.jenkins.Audit
import org.junit.Test

import static org.junit.Assert.assertEquals

class AuditTest {
    static final String DIGEST = 'sha256:' + '4f1c' * 16

    static Map promoted() {
        return [step   : 'promote', status: 'succeeded', exitCode: 0, env: 'prod', app: 'patient-api', digest: DIGEST,
                outputs: ['promoted-by': 'alice', via: 'commit', branch: 'master', commit: '0123456789ab'],
                details: [from    : 'preprod', to: 'prod', actor: 'alice', actorSource: 'Jenkins build causes',
                          releases: [[app: 'patient-api', image: [Repository: 'harbor.example/vendor-x/patient-api', Tag: '1.4.2', Digest: DIGEST], chartVersion: '3.2.0']],
                          gates   : [[gate: 'signed', app: 'patient-api', passed: true, evidence: 'sha256-4f1c.sig'],
                                     [gate: 'validated', app: 'patient-api', passed: true, evidence: 'att-1'],
                                     [gate: 'smoke-tested', app: 'patient-api', passed: true, evidence: 'att-2'],
                                     [gate: 'rollback', app: 'patient-api', passed: true]]]]
    }

    @Test
    void aPromotionThatLanded() {
        Map run = [request: [action: 'promote', app: 'patient-api', digest: DIGEST, from: 'preprod', to: 'prod', requestedBy: 'ci-bot'],
                   approver: 'bob', promote: promoted(),
                   deploy: [status: 'succeeded'], smoke: [[app: 'patient-api', status: 'succeeded']]]
        assertEquals("""Promotion preprod → prod: patient-api harbor.example/vendor-x/patient-api:1.4.2@${DIGEST} (chart 3.2.0)
Promoted by alice (Jenkins build causes); approved by bob; requested by ci-bot (a build parameter, not used for privilege)
Gates: signed passed [sha256-4f1c.sig]; validated passed [att-1]; smoke-tested passed [att-2]; rollback passed
Landed by commit 0123456789ab on master
Deploy --apply: succeeded
Smoke test patient-api: succeeded
Result: SUCCESS""".toString(), Audit.describe(run, 'SUCCESS'))
    }

    @Test
    void aRefusedPromotionSaysWhy() {
        Map p = promoted()
        p.status = 'failed'
        p.exitCode = 1
        p.error = 'promote preprod → prod refused: user mallory is not a promoter'
        p.outputs = [:]
        p.details.actor = 'mallory'
        p.details.gates = []
        Map run = [request: [action: 'promote', app: 'patient-api', digest: DIGEST, from: 'preprod', to: 'prod'], approver: 'alice', promote: p]
        assertEquals("""Promotion preprod → prod: patient-api harbor.example/vendor-x/patient-api:1.4.2@${DIGEST} (chart 3.2.0)
Promoted by mallory (Jenkins build causes); approved by alice
Refused: promote preprod → prod refused: user mallory is not a promoter
Result: UNSTABLE""".toString(), Audit.describe(run, 'UNSTABLE'))
    }

    @Test
    void aFailedSmokeTestAndItsRollback() {
        Map run = [request : [action: 'promote', app: 'patient-api', digest: DIGEST, from: 'preprod', to: 'prod'], approver: 'alice',
                   promote : promoted(), deploy: [status: 'succeeded'],
                   smoke   : [[app: 'patient-api', status: 'failed', error: '1 of 3 checks failed']],
                   rollback: [[app: 'patient-api', status: 'succeeded']], rollbackState: [[app: 'patient-api', status: 'succeeded']]]
        String d = Audit.describe(run, 'FAILURE')
        assertEquals(['Smoke test patient-api: failed (1 of 3 checks failed)', 'Rollback --apply patient-api: succeeded',
                      'Rollback of the desired state patient-api: succeeded', 'Result: FAILURE'], d.readLines()[-4..-1])
    }

    @Test
    void aRequestThatNeverRan() {
        Map run = [request: [action: 'rollback', app: 'patient-api', to: 'prod', reason: 'INC-1234']]
        assertEquals('Rollback of patient-api in prod: INC-1234\nNot approved\nResult: ABORTED', Audit.describe(run, 'ABORTED'))
    }
}
