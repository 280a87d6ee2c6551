// Package citemplates tests the GitLab CI/CD components in ci-templates/:
// static checks of every template (no global keywords, every input typed,
// described and used, one stepper command per job, pinned images, the
// GitLab wiring of each verb), and real pipelines run by gitlab-ci-local
// with the freshly built stepper against the local platform (registry, git
// server, Kubernetes with kwok, the GitLab fake and the Jenkins stand-in).
//
// The package has no code of its own: the templates call the binary, and
// every decision lives there.
package citemplates
