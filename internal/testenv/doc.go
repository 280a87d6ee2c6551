// Package testenv is the tests' side of the local platform: real
// components bound to 127.0.0.1 that tests and the demo talk to instead of
// mocks. The components themselves live in package local, which the stepper
// binary runs for `stepper local`; testenv starts them per test or per test
// binary, and holds what must never ship: the fakes.
//
// The platform is made of a registry without the OCI referrers API (Debian's
// docker-registry 2.8, as many Harbor installs behave), a registry with it
// (go-containerregistry's, served in-process), a git server for desired-state
// repositories (git http-backend plus file:// URLs), and a Kubernetes control
// plane without a container runtime (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok simulating nodes and pods).
//
// Beside the platform, tests can start a registry behind basic auth
// ([StartRegistryAuth]) and a proxy that fails a share of requests the way
// flaky registries do ([StartFaultProxy]). GitLab and Jenkins cannot run
// here, so their REST APIs are faked ([StartFakeGitLab], [StartFakeJenkins]),
// answering as their documentation shows.
//
// The binaries come from .ci/tools.sh; [Tool] finds them. Every child process
// runs in its own process group and dies with its parent, so nothing outlives
// a test run.
package testenv
