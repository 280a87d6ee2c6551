// Package depcheck holds only a test: the walls between stepper's rooms,
// checked on every build the way go-containerregistry's depcheck does.
package depcheck
