import dev.stepper.jenkins.Chain
import dev.stepper.jenkins.Credentials
import dev.stepper.jenkins.ExitCode
import dev.stepper.jenkins.Settings
import dev.stepper.jenkins.Stepper
import groovy.transform.Field

// fourPhasePipeline(Map): a vendor's whole release as one declarative pipeline, the help is
// fourPhasePipeline.txt: build; sign (the key bound in that stage only, on signAgent);
// validate; deploy to the chain's first environment; smoke-test; then each promotion of
// the chain in order, each behind an input the target's promoters answer; a failed smoke
// test rolls the environment back and fails the build.
@Field static final Map DEFAULTS = [
    app            : null,  // default: stepper's (the CI project's name)
    agent          : '',    // label of the agents that build, validate, deploy, test and promote; '' is any
    signAgent      : null,  // label of the agents that sign, which never run a vendor's Dockerfile (SLSA build level 3); default agent
    chain          : [],    // the environments, in order; default: the chain stepper.yaml selects (stepper config show)
    promoteTo      : null,  // the last environment this pipeline promotes into; default: the chain's last
    submitter      : null,  // who may approve a promotion (input submitter); default: the target's promoters
    rollbackOnSmokeFailure: true, // a failed smoke test rolls the environment's desired state back (held)
    build          : [:],   // more keys for stepperBuildSignPush in the build stage (tag, builder, buildArg, ...)
    sign           : [:],   // more keys for stepperBuildSignPush in the sign stage
    validate       : [attest: true], // more keys for stepperValidate; attest signs the verdict promote asks for
    deploy         : [:],   // more keys for stepperDeploy
    smokeTest      : [:],   // more keys for every stepperSmokeTest
    smokeTestPerEnv: [:],   // environment name → more smoke-test keys (url, check, ...)
    promote        : [:],   // more keys for every stepperPromote
    credentials    : Credentials.NONE, // ids; each stage binds only the kinds it needs
    config         : null,  // stepper's flags for every run
    platformConfig : null,
    profile        : null,
    configSet      : [],
    logLevel       : null,
    binary         : [:],
].asImmutable()


/** Which credential kinds each stage binds: the signing key only where it signs. */
@Field static final Map<String, List<String>> BINDS = [
    build   : ['registry'],
    sign    : ['registry', 'signingKey', 'signingPassword'],
    validate: ['registry', 'evidenceKey', 'evidencePassword'],
    deploy  : ['registry', 'gitlab', 'git'],
    smoke   : ['registry', 'git', 'kubeconfig', 'evidenceKey', 'evidencePassword'],
    rollback: ['registry', 'gitlab', 'git'],
    promote : ['registry', 'gitlab', 'git', 'jenkins'],
].asImmutable()

def call(Map args = [:]) {
    List<String> problems = Settings.problems('fourPhasePipeline', DEFAULTS, args)
    if (problems) {
        error(problems.join('\n'))
    }
    Map cfg = Settings.merge(DEFAULTS, args)
    Map common = cfg.subMap(Stepper.RUN_KEYS)
    String agentLabel = cfg.agent ?: ''
    String signLabel = cfg.signAgent ?: agentLabel
    Map platform = [:]
    List<String> chain = []
    Map signed = [:]

    pipeline {
        agent none
        stages {
            stage('Build') {
                agent { label "${agentLabel}" }
                steps {
                    script {
                        platform = new Stepper(this).configShow(common)
                        chain = cfg.chain ?: Chain.envs(platform)
                        if (!chain) {
                            error('fourPhasePipeline: stepper reports no environment chain')
                        }
                        stepperBuildSignPush(common + (Map) cfg.build + [phase: 'build', app: cfg.app, result: 'stepper-build.json',
                                                                        credentials: Credentials.only(cfg.credentials, BINDS.build)])
                    }
                    stash(name: 'stepper-build', includes: 'stepper-build.json')
                }
                post { always { archiveArtifacts(artifacts: 'stepper-*.json', allowEmptyArchive: true) } }
            }
            stage('Sign') {
                agent { label "${signLabel}" }
                steps {
                    unstash 'stepper-build'
                    script {
                        signed = stepperBuildSignPush(common + (Map) cfg.sign + [phase: 'sign', fromResult: 'stepper-build.json', result: 'stepper-sign.json',
                                                                                credentials: Credentials.only(cfg.credentials, BINDS.sign)])
                    }
                    stash(name: 'stepper-sign', includes: 'stepper-sign.json')
                }
                post { always { archiveArtifacts(artifacts: 'stepper-*.json', allowEmptyArchive: true) } }
            }
            stage('Validate') {
                agent { label "${agentLabel}" }
                steps {
                    unstash 'stepper-sign'
                    script {
                        stepperValidate(common + (Map) cfg.validate + [fromResult: 'stepper-sign.json',
                                                                      credentials: Credentials.only(cfg.credentials, BINDS.validate)])
                    }
                }
                post { always { archiveArtifacts(artifacts: 'stepper-*.json', allowEmptyArchive: true) } }
            }
            stage('Deploy') {
                agent { label "${agentLabel}" }
                steps {
                    unstash 'stepper-sign'
                    script {
                        stepperDeploy(common + (Map) cfg.deploy + [env: chain[0], app: cfg.app, fromResult: 'stepper-sign.json',
                                                                  result: "stepper-deploy-${chain[0]}.json".toString(),
                                                                  credentials: Credentials.only(cfg.credentials, BINDS.deploy)])
                    }
                }
                post { always { archiveArtifacts(artifacts: 'stepper-*.json', allowEmptyArchive: true) } }
            }
            stage('Smoke test') {
                agent { label "${agentLabel}" }
                steps {
                    unstash 'stepper-sign'
                    script {
                        smokeTestOrRollBack(cfg, common, chain[0], signed)
                    }
                }
                post { always { archiveArtifacts(artifacts: 'stepper-*.json', allowEmptyArchive: true) } }
            }
            stage('Promote') {
                agent none
                steps {
                    script {
                        int last = cfg.promoteTo ? chain.indexOf(cfg.promoteTo) : chain.size() - 1
                        if (last < 0) {
                            error("fourPhasePipeline: promoteTo ${cfg.promoteTo} is not in the chain ${chain.join(' → ')}")
                        }
                        for (int i = 1; i <= last; i++) {
                            promoteOne(cfg, common, platform, chain[i - 1], chain[i], signed, agentLabel)
                        }
                    }
                }
            }
        }
    }
}

/** promoteOne: the input the target's promoters answer (no executor held), then promote, then smoke-test what landed. */
void promoteOne(Map cfg, Map common, Map platform, String from, String to, Map signed, String agentLabel) {
    stage("Promote to ${to}") {
        String app = cfg.app ?: signed.app
        String submitter = cfg.submitter ?: Chain.submitter(platform, to)
        input(message: "Promote ${app} ${signed.digest} from ${from} to ${to}?".toString(), ok: "Promote to ${to}".toString(),
            submitter: submitter, submitterParameter: 'APPROVER')
        node(agentLabel) {
            checkout scm
            boolean waits = Chain.route(platform, to) == 'merge-request'
            stepperPromote(common + (Map) cfg.promote + [app: app, from: from, to: to, digest: signed.digest, wait: waits,
                                                        result: "stepper-promote-${to}.json".toString(), junit: "stepper-promote-${to}.xml".toString(),
                                                        credentials: Credentials.only(cfg.credentials, BINDS.promote)])
            if (Chain.landsAtOnce(platform, to, waits)) {
                smokeTestOrRollBack(cfg, common, to, signed)
            }
            archiveArtifacts(artifacts: 'stepper-*.json', allowEmptyArchive: true)
        }
    }
}

/** smokeTestOrRollBack: smoke-test env; when it fails, roll env back (held) and fail the build. */
void smokeTestOrRollBack(Map cfg, Map common, String env, Map signed) {
    String app = cfg.app ?: signed.app
    Map smoke = stepperSmokeTest(common + (Map) cfg.smokeTest + (Map) (cfg.smokeTestPerEnv[env] ?: [:]) +
        [env: env, app: app, fromResult: 'stepper-sign.json', onFailed: 'RETURN',
         result: "stepper-smoke-test-${env}.json".toString(), junit: "stepper-smoke-test-${env}.xml".toString(),
         credentials: Credentials.only(cfg.credentials, BINDS.smoke)])
    if (smoke.exitCode != ExitCode.FAILED) {
        return
    }
    if (cfg.rollbackOnSmokeFailure) {
        stepperRollback(common + [env: env, app: app, reason: "smoke test failed in ${env}: ${smoke.error ?: 'see the smoke-test report'}".toString(),
                                  result: "stepper-rollback-${env}.json".toString(), credentials: Credentials.only(cfg.credentials, BINDS.rollback)])
        error("the smoke test failed in ${env}; ${app} was rolled back there and is held until a release is promoted or deployed on purpose")
    }
    error("the smoke test failed in ${env}: ${smoke.error}")
}
