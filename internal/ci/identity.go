package ci

// JobIdentity names a CI job the same way on every retry of it, for the
// owner of a release lock: a retried job must recognise the lock its
// killed try left, and a job URL changes with every try. GitLab: the
// project path and the job name (which holds a matrix job's values);
// Jenkins: the job's full name. "" outside CI.
func JobIdentity(environ []string) string {
	env := toMap(environ)
	switch i := Detect(environ); i.System {
	case GitLab:
		if env["CI_PROJECT_PATH"] != "" && env["CI_JOB_NAME"] != "" {
			return "gitlab:" + env["CI_PROJECT_PATH"] + " job " + env["CI_JOB_NAME"]
		}
	case Jenkins:
		if env["JOB_NAME"] != "" {
			return "jenkins:" + env["JOB_NAME"]
		}
	}
	return ""
}
