import dev.stepper.jenkins.Audit
import dev.stepper.jenkins.Chain
import dev.stepper.jenkins.Credentials
import dev.stepper.jenkins.ExitCode
import dev.stepper.jenkins.PromotionRequest
import dev.stepper.jenkins.Settings
import dev.stepper.jenkins.Stepper
import groovy.transform.Field
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

// promotionJob(Map): the platform's parameterised promotion job, the help is promotionJob.txt.
//
// Parameters (what stepper promote and stepper rollback send): APP, DIGEST, FROM and TO
// (choices limited to the promotions this job runs), ALL, HOTFIX, REQUESTED_BY, and
// ACTION=rollback with REASON. Then: the parameters checked; an input only the
// privileged group may answer; a lock on the target environment; stepper promote
// (which checks privilege again, from the build's causes); stepper deploy --apply on
// the target; stepper smoke-test; stepper rollback --apply (and the held reverse change
// of the desired state) when the smoke test fails; the audit record as the description.
@Field static final Map DEFAULTS = [
    agent          : '',         // label of the agents that run stepper; '' is any
    targets        : [],         // environments this job promotes into; default: those whose land.job is this job (JOB_NAME)
    submitter      : null,       // who may approve (input submitter: user ids, groups); default: the target's promoters
    onRefused      : 'UNSTABLE', // the build's result when stepper refuses (exit 1: a gate, the chain, privilege): UNSTABLE or FAILURE
    checkout       : true,       // check out the job's own repository (the platform's stepper.yaml) where stepper runs
    lockPrefix     : 'stepper-env-', // lock resource: prefix + the target environment
    deploy         : [rollbackOnFailure: true], // more keys for stepper deploy --apply on the target
    smokeTest      : [:],        // more keys for stepper smoke-test on the target
    smokeTestPerEnv: [:],        // environment name → more smoke-test keys (url, check, ...)
    rollbackState  : true,       // after rollback --apply, also roll the desired state back and hold it
    jobProperties  : [],         // more job properties; properties() replaces the job's, these are kept
    credentials    : Credentials.NONE, // ids; each stage binds only the kinds it needs
    config         : null,       // stepper's flags for every run
    platformConfig : null,
    profile        : null,
    configSet      : [],
    logLevel       : null,
    binary         : [:],
].asImmutable()


def call(Map args = [:]) {
    List<String> problems = Settings.problems('promotionJob', DEFAULTS, args)
    Map cfg = Settings.merge(DEFAULTS, args)
    if (!(cfg.onRefused in ['UNSTABLE', 'FAILURE'])) {
        problems << "promotionJob: onRefused is ${cfg.onRefused}; use UNSTABLE or FAILURE".toString()
    }
    if (problems) {
        error(problems.join('\n'))
    }
    Map common = cfg.subMap(Stepper.RUN_KEYS)
    Map platform = [:]
    List pairs = []
    stage('Parameters') {
        node(cfg.agent) {
            if (cfg.checkout) {
                checkout scm
            }
            platform = new Stepper(this).configShow(common)
        }
        pairs = Chain.pairsForJob(platform, env.JOB_NAME, cfg.targets)
        if (!pairs) {
            error("promotionJob: no promotion of the chain ${Chain.envs(platform).join(' → ')} lands through this job (${env.JOB_NAME}): " +
                'set targets, or name this job in the target environment\'s land.job')
        }
        properties([parameters(parameterDefinitions(pairs, Chain.landingParameters(platform, pairs)))] + cfg.jobProperties)
    }

    Map req = PromotionRequest.parse(params, pairs)
    Map record = [request: req]
    String failure = null
    try {
        if (req.problems) {
            error("promotionJob: the build's parameters are refused, nothing ran:\n- " + req.problems.join('\n- '))
        }
        String submitter = cfg.submitter ?: Chain.submitter(platform, req.to)
        if (!submitter) {
            error("promotionJob: nobody may approve a change of ${req.to}: it names no promoters; set submitter")
        }
        stage('Approve') {
            record.approver = input(message: PromotionRequest.question(req), ok: req.action == 'rollback' ? 'Roll back' : "Promote to ${req.to}".toString(),
                submitter: submitter, submitterParameter: 'APPROVER')
        }
        lock(resource: cfg.lockPrefix + req.to) {
            node(cfg.agent) {
                if (cfg.checkout) {
                    checkout scm
                }
                // The approver, for stepper's records (ci.user, Stepper-Actor); stepper checks privilege from the build's causes.
                withEnv(["STEPPER_TRIGGERED_BY=${record.approver}".toString()]) {
                    if (req.action == 'rollback') {
                        rollbackRequested(cfg, common, req, record)
                    } else {
                        promote(cfg, common, req, record)
                    }
                }
            }
        }
    } catch (Throwable e) {
        failure = e instanceof FlowInterruptedException ? 'ABORTED' : 'FAILURE'
        throw e
    } finally {
        currentBuild.description = Audit.describe(record, ExitCode.worse(currentBuild.currentResult, failure))
    }
}

/** promote: promote, deploy --apply, smoke-test, and roll back what fails its smoke test. */
void promote(Map cfg, Map common, Map req, Map record) {
    Map ids = (Map) cfg.credentials
    stage('Promote') {
        record.promote = stepperPromote(common + [app: req.all ? null : req.app, all: req.all, from: req.from, to: req.to,
                                                  digest: req.digest ?: null, hotfix: req.hotfix, onFailed: 'RETURN',
                                                  credentials: Credentials.only(ids, ['registry', 'gitlab', 'git', 'jenkins'])])
    }
    if (record.promote.exitCode == ExitCode.FAILED) {
        refused(cfg, "stepper refused the promotion ${req.from} → ${req.to}, nothing changed: ${record.promote.error}")
        return
    }
    List<String> apps = PromotionRequest.apps(req, (Map) record.promote)
    stage('Deploy') {
        record.deploy = stepperDeploy(common + (Map) cfg.deploy + [env: req.to, apply: true, app: req.all ? null : req.app, onFailed: 'RETURN',
                                                                  result: "stepper-deploy-${req.to}.json".toString(),
                                                                  credentials: Credentials.only(ids, ['registry', 'git', 'kubeconfig'])])
    }
    if (record.deploy.exitCode == ExitCode.FAILED) {
        error("stepper deploy --apply into ${req.to} failed: ${record.deploy.error}")
    }
    List<String> failed = []
    record.smoke = []
    stage('Smoke test') {
        for (int i = 0; i < apps.size(); i++) {
            String app = apps[i]
            Map smoke = stepperSmokeTest(common + (Map) cfg.smokeTest + (Map) (cfg.smokeTestPerEnv[req.to] ?: [:]) +
                [env: req.to, app: app, onFailed: 'RETURN', result: "stepper-smoke-test-${app}.json".toString(),
                 junit: "stepper-smoke-test-${app}.xml".toString(),
                 credentials: Credentials.only(ids, ['registry', 'git', 'kubeconfig', 'evidenceKey', 'evidencePassword'])])
            record.smoke << (smoke + [app: app])
            if (smoke.exitCode == ExitCode.FAILED) {
                failed << app
            }
        }
    }
    if (failed) {
        rollBack(cfg, common, req, record, failed, "smoke test failed in ${req.to} after promotion from ${req.from} (${env.BUILD_URL})".toString())
        error("the smoke test failed in ${req.to} for ${failed.join(', ')}; rolled back")
    }
}

/** rollBack: Helm back to the last good revision now, then the desired state back and held, so the next apply keeps it. */
void rollBack(Map cfg, Map common, Map req, Map record, List<String> apps, String reason) {
    Map ids = (Map) cfg.credentials
    record.rollback = []
    record.rollbackState = []
    stage('Rollback') {
        for (int i = 0; i < apps.size(); i++) {
            String app = apps[i]
            record.rollback << (stepperRollback(common + [env: req.to, app: app, apply: true, reason: reason, onFailed: 'RETURN',
                                                          result: "stepper-rollback-apply-${app}.json".toString(),
                                                          credentials: Credentials.only(ids, ['registry', 'git', 'kubeconfig'])]) + [app: app])
            if (cfg.rollbackState) {
                record.rollbackState << (stepperRollback(common + [env: req.to, app: app, reason: reason, onFailed: 'RETURN',
                                                                   result: "stepper-rollback-${app}.json".toString(),
                                                                   credentials: Credentials.only(ids, ['registry', 'gitlab', 'git'])]) + [app: app])
            }
        }
    }
}

/** rollbackRequested: ACTION=rollback, as stepper rollback sends it: the held reverse change, then apply it. */
void rollbackRequested(Map cfg, Map common, Map req, Map record) {
    Map ids = (Map) cfg.credentials
    stage('Rollback') {
        record.rollbackState = stepperRollback(common + [env: req.to, app: req.app, to: req.digest ?: null, reason: req.reason, onFailed: 'RETURN',
                                                         credentials: Credentials.only(ids, ['registry', 'gitlab', 'git'])])
    }
    if (record.rollbackState.exitCode == ExitCode.FAILED) {
        refused(cfg, "stepper refused the rollback of ${req.app} in ${req.to}, nothing changed: ${record.rollbackState.error}")
        return
    }
    stage('Deploy') {
        record.deploy = stepperDeploy(common + (Map) cfg.deploy + [env: req.to, apply: true, app: req.app, onFailed: 'RETURN',
                                                                  result: "stepper-deploy-${req.to}.json".toString(),
                                                                  credentials: Credentials.only(ids, ['registry', 'git', 'kubeconfig'])])
    }
    if (record.deploy.exitCode == ExitCode.FAILED) {
        error("stepper deploy --apply of the rollback into ${req.to} failed: ${record.deploy.error}")
    }
}

/** refused: a refusal by stepper ends the build UNSTABLE or FAILURE, as onRefused says. */
void refused(Map cfg, String message) {
    if (cfg.onRefused == 'UNSTABLE') {
        unstable(message)
    } else {
        error(message)
    }
}

/** parameterDefinitions: the job's parameters (PromotionRequest.parameters) as Jenkins' parameter definitions. */
List parameterDefinitions(List pairs, Map landing) {
    List<Map> specs = PromotionRequest.parameters(pairs, landing)
    List defs = []
    for (int i = 0; i < specs.size(); i++) {
        Map spec = specs[i]
        switch (spec.type) {
            case 'choice': defs << choice(spec.args); break
            case 'booleanParam': defs << booleanParam(spec.args); break
            default: defs << string(spec.args)
        }
    }
    return defs
}
