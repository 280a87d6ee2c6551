package config

import (
	"embed"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/secret"
	"go.yaml.in/yaml/v3"
)

// A profile is the built-in lowest layer: the environments, chains and
// rules of one platform, written as a stepper.yaml of its own and decoded by
// the same decoder, so a profile cannot hold what a user's file could not.

//go:embed profiles/*.yaml
var profileFiles embed.FS

// Profiles lists the built-in profile names.
func Profiles() []string {
	entries, _ := profileFiles.ReadDir("profiles")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// Profile returns the text of the built-in profile name, for
// `stepper config profile` and the reference.
func Profile(name string) (string, bool) {
	data, err := profileFiles.ReadFile("profiles/" + name + ".yaml")
	return string(data), err == nil
}

func hasProfile(name string) bool { return slices.Contains(Profiles(), name) }

func profileRoot(name string, set *secret.Set) (*yaml.Node, error) {
	text, _ := Profile(name)
	return parseDocument([]byte(text), origin{kind: fromProfile, name: name}, set)
}
