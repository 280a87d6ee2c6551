// Package land is the one way a change reaches an environment's desired
// state. deploy is "set the image, then land"; promote is "copy the release,
// check the evidence, then land"; rollback is "revert, then land".
//
// A landing opens (or reuses from the cache) a checkout of the desired-state
// repository, loads the environment's document in its configured format,
// applies the caller's edit, re-reads what was written, asks the caller's
// guard whether the branch head already holds something this change must not
// overwrite, and lands the result by the environment's route:
//
//   - commit: pushed to the desired-state branch, re-applied on the newer
//     head after a lost race (gitrepo.Update);
//   - merge-request: from a branch made for this change into the target
//     branch, or, when the platform names a standing source branch (eHealth's
//     master into prod), committed there and proposed by one merge request
//     whose description lists every pending change. Nothing is ever
//     committed to the target branch itself on this route;
//   - jenkins: run by promote, not here.
//
// The rooms: checkout.go opens and caches checkouts and loads documents;
// land.go is the routes.
package land
