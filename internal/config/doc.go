// Package config loads stepper.yaml: the registry, signing keys, GitLab and
// Jenkins, and the chain of environments a release travels through, each
// with the Git desired state that decides what runs there and the way a
// change lands in it (a commit, a merge request or a Jenkins job).
//
// Configuration comes in layers, each overriding the one before:
//
//	built-in profile  <  stepper.yaml  <  STEPPER_* variables  <  --set flags
//
// Load merges them through one strict decoder that walks the YAML node tree
// against the schema (schema.go), so every mistake, in a file, a variable
// or a flag, is an *Error that says what is wrong, where (file:line:column,
// or the variable or flag) and what would be right. Load accepts a
// configuration with gaps; a verb asks for what it needs with
// (*Environment).Check or (*Config).Require.
//
// Secrets never appear in configuration: password and token keys hold a
// SecretRef (env://NAME or file://PATH) that a verb resolves when it needs
// the value, and every secret seen, a resolved one or a password someone
// wrote into a URL, is registered with a secret.Set so it is masked in any
// output.
//
// REFERENCE.md, returned by Reference, documents every key.
package config
