import dev.stepper.jenkins.Chain
import harness.Fixtures
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue

class ChainTest {
    static final Map EHEALTH = Fixtures.config('ehealth-vendor')
    static final Map SHOP = Fixtures.config('shop')

    @Test
    void theSelectedChain() {
        assertEquals(['devenvcgi', 'exttest', 'preprod', 'prod'], Chain.envs(EHEALTH))
        assertEquals(['staging', 'production'], Chain.envs(SHOP))
        assertEquals(['a', 'b'], Chain.envs([environments: [[name: 'a'], [name: 'b']]]))
    }

    @Test
    void pairs() {
        assertEquals([['devenvcgi', 'exttest'], ['exttest', 'preprod'], ['preprod', 'prod']], Chain.pairs(Chain.envs(EHEALTH)))
        assertEquals([], Chain.pairs(['only']))
    }

    @Test
    void theProductionJobRunsOnlyTheLastStep() {
        assertEquals([['preprod', 'prod']], Chain.pairsForJob(EHEALTH, 'platform/promote-prod', []))
    }

    @Test
    void anotherJobsTargetIsLeftOut() {
        // exttest lands through ehealth-promote-exttest: from inside another job stepper would trigger that one
        // a job no environment names runs every promotion stepper lands itself
        assertEquals([['exttest', 'preprod']], Chain.pairsForJob(EHEALTH, 'some/other-job', []))
        assertEquals([['devenvcgi', 'exttest'], ['exttest', 'preprod']], Chain.pairsForJob(EHEALTH, 'ehealth-promote-exttest', ['exttest', 'preprod']))
        assertEquals([['staging', 'production']], Chain.pairsForJob(Fixtures.config('shop'), 'shop-promote', []))
        assertEquals([], Chain.pairsForJob(EHEALTH, 'some/other-job', ['prod']))
        assertEquals([['devenvcgi', 'exttest']], Chain.pairsForJob(EHEALTH, 'ehealth-promote-exttest', ['exttest']))
    }

    @Test
    void landingParameters() {
        assertEquals([ENVIRONMENT: 'prod'], Chain.landingParameters(EHEALTH, [['preprod', 'prod']]))
    }

    @Test
    void submitterIsThePromotersWithoutPrefixes() {
        assertEquals('sre', Chain.submitter(EHEALTH, 'prod'))
        assertNull(Chain.submitter(EHEALTH, 'devenvcgi'))
        assertEquals('hostedshop-maintainers', Chain.submitter(SHOP, 'production'))
        Map c = [chain: 'vendor', environments: [[name: 'prod', promoters: ['group:sre'], chainPromoters: [vendor: ['user:vera', 'group:vendor-x-leads']]]]]
        assertEquals('vera,vendor-x-leads', Chain.submitter(c, 'prod'))
        c.chain = 'internal'
        assertEquals('sre', Chain.submitter(c, 'prod'))
    }

    @Test
    void whatHasLandedWhenPromoteReturns() {
        assertTrue(Chain.landsAtOnce(SHOP, 'production', false))
        assertTrue(Chain.landsAtOnce(EHEALTH, 'devenvcgi', false))
        assertFalse(Chain.landsAtOnce(EHEALTH, 'preprod', false))
        assertTrue(Chain.landsAtOnce(EHEALTH, 'preprod', true))
        assertFalse(Chain.landsAtOnce(EHEALTH, 'prod', true))
        assertEquals('merge-request', Chain.route(EHEALTH, 'preprod'))
    }
}
