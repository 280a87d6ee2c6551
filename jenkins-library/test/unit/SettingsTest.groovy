import dev.stepper.jenkins.Settings
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

class SettingsTest {
    static final Map DEFAULTS = [env: null, set: [:], credentials: [registry: null, gitlab: null], tag: ['a']]

    @Test
    void argsOverDefaultsKeepTheDefaultsOrder() {
        Map s = Settings.merge(DEFAULTS, [tag: ['1.4.2'], env: 'inttest', credentials: [gitlab: 'gl']])
        assertEquals(['env', 'set', 'credentials', 'tag'], s.keySet() as List)
        assertEquals('inttest', s.env)
        assertEquals(['1.4.2'], s.tag)
        assertEquals([registry: null, gitlab: 'gl'], s.credentials)
    }

    @Test
    void aFreeFormMapReplacesItsDefault() {
        assertEquals([A: '1'], Settings.merge([set: [:]], [set: [A: '1']]).set)
    }

    @Test
    void unknownKeysAreNamedWithTheClosestKnownOne() {
        List<String> p = Settings.problems('stepperDeploy', DEFAULTS, [evn: 'x', credentials: [registy: 'r']])
        assertEquals(2, p.size())
        assertTrue(p[0], p[0].startsWith('stepperDeploy: unknown key evn; did you mean env?'))
        assertTrue(p[1], p[1].contains('unknown key credentials.registy; did you mean credentials.registry?'))
    }

    @Test
    void aMapOfOtherSettingsTakesAnyKeyAndKeepsItsDefaults() {
        Map d = [deploy: [rollbackOnFailure: true]]
        assertEquals([], Settings.problems('promotionJob', d, [deploy: [timeout: '3m']]))
        assertEquals([rollbackOnFailure: true, timeout: '3m'], Settings.merge(d, [deploy: [timeout: '3m']]).deploy)
        assertEquals([rollbackOnFailure: false], Settings.merge(d, [deploy: [rollbackOnFailure: false]]).deploy)
    }

    @Test
    void aMapKeyTakesAMap() {
        List<String> p = Settings.problems('stepperDeploy', DEFAULTS, [credentials: 'harbor'])
        assertEquals(['stepperDeploy: credentials takes a map of registry, gitlab, not String'], p)
    }

    @Test
    void mergingNeverChangesTheCallersValues() {
        Map args = [tag: ['x']]
        Map s = Settings.merge(DEFAULTS, args)
        s.tag << 'y'
        assertEquals(['x'], args.tag)
        assertEquals(['a'], DEFAULTS.tag)
    }

    @Test
    void distance() {
        assertEquals(2, Settings.distance('evn', 'env'))
        assertEquals(0, Settings.distance('a', 'a'))
        assertEquals(3, Settings.distance('', 'abc'))
    }
}
