// Package fluxcrd pins the Flux API types the CRD is generated from.
package fluxcrd

import _ "github.com/fluxcd/helm-controller/api/v2"
