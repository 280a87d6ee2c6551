// Package validate is the validate step: check images, charts, their
// rendered manifests and an environment's desired-state entries against the
// platform's container rules, early, in the vendor's own merge request.
package validate

import "fmt"

// Options are the inputs of validate.
type Options struct {
	Image         string   `placeholder:"IMAGE@DIGEST" help:"Image to check. A tag is resolved to its digest once and every check uses that digest."`
	FromResult    string   `placeholder:"FILE" type:"existingfile" help:"Take the image from build-sign-push's --result file."`
	Chart         string   `placeholder:"PATH|REF" help:"Helm chart to check and render: a directory, a .tgz, oci://REGISTRY/PATH/NAME or https://REPO/NAME (with --chart-version)."`
	ChartVersion  string   `placeholder:"VERSION" help:"Version of a --chart from a repository; default the newest."`
	Values        []string `name:"values" short:"f" placeholder:"FILE" help:"Values file to render --chart with; repeatable."`
	Set           []string `sep:"none" placeholder:"KEY=VALUE" help:"Value to render --chart with; repeatable."`
	Env           string   `placeholder:"ENV" help:"Check the app's entry in this environment's desired state: its image, chart and values, rendered."`
	App           string   `placeholder:"NAME" help:"Application name. Defaults to the CI project name."`
	All           bool     `help:"With --env: check every app of the environment."`
	State         string   `placeholder:"PATH" type:"path" help:"With --env: a local checkout of the desired state (file or directory), instead of cloning desiredState.repo."`
	Policy        string   `placeholder:"FILE" type:"existingfile" help:"Policy file (severities, thresholds, CEL rules, waivers); default validate.policy."`
	Runtime       bool     `help:"Also start the image with podman or docker: the health endpoint answers, the process is not root, SIGTERM ends it within 10 s."`
	CodeQuality   string   `name:"code-quality" placeholder:"FILE" type:"path" help:"Write the findings as GitLab Code Quality JSON to FILE, for the merge request widget."`
	Attest        bool     `help:"Sign and attach a validate attestation for each pinned image, with signing.evidenceKey (else signing.key); promote requires it."`
	UnsignedBuild bool     `help:"The image is a merge request's build, signed only once merged: report image-signed as not checked instead of failing. Not with --attest."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.Image != "" && o.FromResult != "" {
		return fmt.Errorf("--image and --from-result both name the image: give one")
	}
	if o.UnsignedBuild && o.Attest {
		return fmt.Errorf("--unsigned-build and --attest: evidence is signed about signed builds only; attest in the default branch's pipeline")
	}
	if o.Image == "" && o.FromResult == "" && o.Chart == "" && o.Env == "" {
		return fmt.Errorf("nothing to validate: give --image, --from-result, --chart or --env")
	}
	if o.All && o.Env == "" {
		return fmt.Errorf("--all checks every app of an environment: give --env")
	}
	if o.All && o.App != "" {
		return fmt.Errorf("--all and --app both choose apps: give one")
	}
	if o.State != "" && o.Env == "" {
		return fmt.Errorf("--state is the desired state of an environment: give --env")
	}
	if o.Env != "" && o.Chart != "" {
		return fmt.Errorf("--chart and --env both name the chart (the desired state names it): give one")
	}
	if (len(o.Values) > 0 || len(o.Set) > 0 || o.ChartVersion != "") && o.Chart == "" {
		return fmt.Errorf("--values, --set and --chart-version go with --chart")
	}
	return nil
}
