package config

import _ "embed"

//go:embed REFERENCE.md
var reference string

// Reference returns the configuration reference (REFERENCE.md), for
// `stepper config reference`.
func Reference() string { return reference }
