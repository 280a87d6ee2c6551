package cli

import (
	"fmt"
	"runtime"
)

// Set at build time with -ldflags "-X github.com/stepper-cd/stepper/internal/cli.Version=v1.2.3 -X ...Commit=abc".
var (
	Version = "dev"
	Commit  = ""
)

// VersionCmd prints the version.
type VersionCmd struct{}

// Help is the long help of `stepper version`.
func (VersionCmd) Help() string {
	return `Prints stepper's version, the commit it was built from, and the Go
version and platform. It reads no configuration and contacts nothing, so it
works anywhere.

Examples:

    stepper version
    stepper version --output json
`
}

type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Run prints the version.
func (VersionCmd) Run(rt *Runtime) error {
	v := versionInfo{Version: Version, Commit: Commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if rt.Globals.Output == "json" {
		return printJSON(rt, v)
	}
	commit := ""
	if v.Commit != "" {
		commit = " (" + v.Commit + ")"
	}
	_, err := fmt.Fprintf(rt.Stdout, "stepper %s%s %s %s\n", v.Version, commit, v.Go, v.Platform)
	return err
}
