// Package release is the model of a release as it moves through stepper's
// steps: the image it runs (Ref), what each step recorded about it (Built,
// Deployed, SmokeTested, Promoted, RolledBack), the commit trailers that
// carry those records in the desired-state history, and the signed evidence
// (SmokeEvidence, ValidationEvidence) a promotion asks for.
//
// It is pure: no registry, git or cluster calls. Steps import it to hand
// results to each other; none of them owns these names, so no step imports
// another.
//
// The rooms:
//
//   - ref.go: the image reference, repository[:tag]@digest, and its parser.
//   - records.go: the typed step records and their encoding into a result
//     file's outputs (the dotenv file shows them as STEPPER_<NAME>).
//   - trailers.go: the "Stepper-*" trailers of desired-state commits, written
//     by deploy, promote and rollback and read back from the history; a
//     commit may land several releases (a promotion of a whole environment).
//   - evidence.go: the in-toto predicate of smoke-test evidence and the
//     question a promotion asks of it.
//   - validation.go: the same for validate's verdict.
package release
