// Package promote is the promote step: carry a release that passed in one
// environment to the next one in the chain, only in order, only with
// evidence, and only for someone allowed to promote into the target.
package promote

import "fmt"

// Options are the inputs of promote.
type Options struct {
	App      string   `placeholder:"NAME" help:"Application to promote. Defaults to the CI project name."`
	From     string   `required:"" placeholder:"ENV" help:"Environment the release passed in."`
	To       string   `placeholder:"ENV" help:"Environment to promote into. Defaults to the next one in the chain; any other is refused."`
	Evidence []string `placeholder:"FILE" type:"existingfile" help:"Result file of a smoke-test in --from; repeatable."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.To != "" && o.To == o.From {
		return fmt.Errorf("--from and --to are both %q: a promotion goes to another environment", o.From)
	}
	return nil
}
