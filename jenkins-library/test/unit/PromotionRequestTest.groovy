import dev.stepper.jenkins.PromotionRequest
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

class PromotionRequestTest {
    static final List PAIRS = [['preprod', 'prod']]
    static final String DIGEST = 'sha256:' + '4f1c' * 16

    @Test
    void aPromotionAsStepperSendsIt() {
        Map r = PromotionRequest.parse([APP: 'patient-api', DIGEST: DIGEST, FROM: 'preprod', TO: 'prod', ALL: false, HOTFIX: 'false',
                                        REQUESTED_BY: 'ci-bot', ENVIRONMENT: 'prod'], PAIRS)
        assertEquals([], r.problems)
        assertEquals(['promote', 'patient-api', DIGEST, 'preprod', 'prod', false, false, 'ci-bot'],
            [r.action, r.app, r.digest, r.from, r.to, r.all, r.hotfix, r.requestedBy])
        assertEquals("Promote patient-api ${DIGEST} from preprod to prod (requested by ci-bot)?".toString(), PromotionRequest.question(r))
    }

    @Test
    void aPairOutsideTheChainIsRefused() {
        Map r = PromotionRequest.parse([APP: 'patient-api', DIGEST: DIGEST, FROM: 'exttest', TO: 'prod'], PAIRS)
        assertEquals(['FROM/TO exttest → prod is not a promotion this job runs; it runs preprod → prod: environments are visited in order'], r.problems)
        assertEquals(1, PromotionRequest.parse([APP: 'a', DIGEST: DIGEST, FROM: 'preprod', TO: 'exttest'], PAIRS).problems.size())
    }

    @Test
    void allMovesEveryAppAndNamesNone() {
        assertEquals([], PromotionRequest.parse([ALL: true, FROM: 'preprod', TO: 'prod', APP: '', DIGEST: ''], PAIRS).problems)
        assertEquals(['ALL promotes every app that differs: leave APP and DIGEST empty'],
            PromotionRequest.parse([ALL: 'true', FROM: 'preprod', TO: 'prod', APP: 'x'], PAIRS).problems)
    }

    @Test
    void oneAppNeedsItsDigest() {
        List p = PromotionRequest.parse([APP: 'patient-api', FROM: 'preprod', TO: 'prod'], PAIRS).problems
        assertTrue(p.toString(), p[0].startsWith('DIGEST is empty'))
        p = PromotionRequest.parse([APP: 'patient-api', DIGEST: 'latest', FROM: 'preprod', TO: 'prod'], PAIRS).problems
        assertEquals(['DIGEST latest is not sha256: and 64 hex digits'], p)
        p = PromotionRequest.parse([APP: 'x; reboot', DIGEST: DIGEST, FROM: 'preprod', TO: 'prod'], PAIRS).problems
        assertTrue(p.toString(), p[0].startsWith('APP x; reboot is not an app name'))
    }

    @Test
    void aRollbackAsStepperSendsIt() {
        Map r = PromotionRequest.parse([ACTION: 'rollback', APP: 'patient-api', TO: 'prod', DIGEST: DIGEST, REASON: '500s on /login', FROM: 'preprod'], PAIRS)
        assertEquals([], r.problems)
        assertEquals("Roll patient-api in prod back to ${DIGEST}? Reason: 500s on /login".toString(), PromotionRequest.question(r))
        assertEquals(['REASON is empty: a rollback says why'],
            PromotionRequest.parse([ACTION: 'rollback', APP: 'patient-api', TO: 'prod'], PAIRS).problems)
        assertEquals(['TO preprod is not an environment this job serves (prod)'],
            PromotionRequest.parse([ACTION: 'rollback', APP: 'a', TO: 'preprod', REASON: 'r'], PAIRS).problems)
    }

    @Test
    void anUnknownAction() {
        assertEquals(['ACTION deploy is not one of promote, rollback'], PromotionRequest.parse([ACTION: 'deploy'], PAIRS).problems)
    }
}
