// Package validate is the validate step: check an image, a chart and an
// environment's desired-state entry against the platform's container rules
// (approved base image, non-root, signed by an approved key, probes, two
// replicas across zones, the latest approved chart).
package validate

import "fmt"

// Options are the inputs of validate.
type Options struct {
	Image      string `placeholder:"IMAGE@DIGEST" help:"Image to check. A tag is resolved to its digest once and every check uses that digest."`
	FromResult string `placeholder:"FILE" type:"existingfile" help:"Take the image from an earlier step's --result file."`
	Chart      string `placeholder:"PATH|REF" help:"Helm chart to check: a directory, a .tgz or an oci:// reference."`
	Env        string `placeholder:"ENV" help:"Also check this environment's desired-state entry for the app."`
	App        string `placeholder:"NAME" help:"Application name. Defaults to the CI project name."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.Image != "" && o.FromResult != "" {
		return fmt.Errorf("--image and --from-result both name the image: give one")
	}
	if o.Image == "" && o.FromResult == "" && o.Chart == "" && o.Env == "" {
		return fmt.Errorf("nothing to validate: give --image, --from-result, --chart or --env")
	}
	return nil
}
