// Package desiredstate reads and edits the files that say what runs where:
// Helmsman desired-state files (YAML and TOML), Flux HelmRelease manifests
// and helmfile layouts, all behind one Document interface, so promotion,
// diff and revert (ops.go) work on every format unchanged.
//
// Every edit is surgical. A file is never re-serialised: the parser finds the
// byte span of the value to change and the original bytes are spliced, so
// comments, key order, indentation, quoting and blank lines survive and a
// reviewer sees only the lines that changed. After every edit the result is
// parsed again and refused unless the app reads back as intended and every
// other app reads exactly as before.
//
// The rooms:
//
//   - model.go, image.go, semver.go, keys.go: the app model, image and
//     chart-version rules, and Keys, the mapping from the model onto a
//     platform's Helm values keys.
//   - document.go: the Document interface, Open, Load and options: an
//     explicit format (WithFormat, ParseFormat), and for helmfile a walk
//     from a versions file up to the helmfile, bounded by WithRoot. A
//     desired state with no apps is an error.
//   - helmsman.go, edit.go: the Helmsman DSF document, shared by YAML and
//     TOML; edit.go plans, applies and verifies edits.
//   - tree.go: the neutral tree of apps and value spans a syntax produces.
//   - yaml_scan.go, toml_scan.go: byte spans and quoting for YAML and TOML,
//     with nothing format-specific.
//   - nested.go: the document for formats whose values are nested YAML
//     spread over several files (Flux, helmfile): a layout says where each
//     app's chart version and values live; nested.go edits them there and
//     verifies the result the way edit.go does.
//   - yaml_nested.go: multi-document YAML files, nested values read as
//     dotted keys, and setting or removing one by path; Go template
//     actions masked out of .gotmpl files.
//   - flux.go: where a HelmRelease keeps name, chart, version and values.
//   - hold.go: holding an app's image against Flux image automation, by
//     renaming the $imagepolicy setter comments on its image lines into a
//     form automation does not read, and back.
//   - helmfile.go: one environment of a helmfile layout: releases, the
//     environment's values and versions file, and which recognised
//     template references lead from a release into the versions file.
//   - yaml.go, toml.go: where Helmsman keeps apps in each syntax, and how
//     to insert and remove keys there.
//   - lists.go: helm --set paths that index lists, written as YAML
//     sequences in nested formats, and FlattenValues.
//   - ops.go: copy a release between environments, diff them, revert one
//     app's change, all on the Document interface alone.
//   - write.go: atomic file replacement.
//
// A Document is not safe for concurrent use.
package desiredstate
