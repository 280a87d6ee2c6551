package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/local"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/report"
)

func loadConfig(ctx context.Context, rt *Runtime, parser *kong.Kong) (*config.Config, error) {
	path, explicit := rt.Globals.Config, true
	if path == "" {
		path, explicit = config.DefaultPath, false
	}
	cfg, err := config.Load(ctx, config.Options{
		Path:         path,
		PathExplicit: explicit,
		Profile:      rt.Globals.Profile,
		Platform:     rt.Globals.Platform,
		Environ:      rt.Environ,
		// STEPPER_TRIGGERED_BY is the Jenkins library's, read by internal/ci.
		// STEPPER_LOCAL_* are the local clone's addresses (stepper local up).
		IgnoreEnv: append(append(flagEnvNames(parser.Model.Node), "STEPPER_TRIGGERED_BY"), local.EnvVars...),
		Sets:      rt.Globals.ConfigSet,
		Secrets:   rt.Secrets,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		rt.Log.Warn().Msg(w)
	}
	return cfg, nil
}

// flagEnvNames lists the STEPPER_* variables that set flags, so that the
// configuration loader does not mistake them for configuration keys.
func flagEnvNames(n *kong.Node) []string {
	var names []string
	for _, f := range n.Flags {
		names = append(names, f.Envs...)
	}
	for _, c := range n.Children {
		names = append(names, flagEnvNames(c)...)
	}
	return names
}

// finish completes the result with the outcome and writes every output the
// flags asked for. It runs on failure too: a failed step's result file is
// the evidence of what failed.
func finish(rt *Runtime, runErr error, code int) {
	r := rt.Result
	r.ExitCode = code
	r.Duration = report.Seconds(time.Since(r.StartedAt))
	switch {
	case runErr == nil:
		if r.Status == "" {
			r.Status = report.Succeeded
		}
	case code == int(exit.Failed):
		r.Status = report.Failed
	case code == int(exit.Interrupted) || code == int(exit.Terminated):
		r.Status = report.Interrupted
	default:
		r.Status = report.Errored
	}
	if runErr != nil {
		r.Error = rt.Secrets.Mask(runErr.Error())
	}
	write := func(kind, path string, fn func(string, *report.Result) error) {
		if path == "" {
			return
		}
		if err := fn(path, r); err != nil {
			rt.Log.Error().Err(err).Str("file", path).Msgf("writing the %s failed", kind)
		}
	}
	write("result file", rt.Globals.Result, func(p string, r *report.Result) error { return report.WriteJSON(p, r, rt.Secrets) })
	write("dotenv file", rt.Globals.Dotenv, func(p string, r *report.Result) error { return report.WriteDotenv(p, r, rt.Secrets) })
	write("JUnit file", rt.Globals.Junit, func(p string, r *report.Result) error {
		if rt.JUnit != nil {
			var b bytes.Buffer
			if err := rt.JUnit(&b); err != nil {
				return err
			}
			return report.WriteFileAtomic(p, []byte(rt.Secrets.Mask(b.String())))
		}
		return report.WriteJUnit(p, r, rt.Secrets)
	})
	rt.Log.Debug().Str(logging.Step, r.Step).Str(logging.Env, r.Env).Str(logging.App, r.App).
		Dur(logging.Duration, time.Duration(r.Duration)).Str("status", string(r.Status)).Msg("step finished")
}

// printJSON writes v as indented JSON on stdout, masked.
func printJSON(rt *Runtime, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintln(rt.Stdout, rt.Secrets.Mask(string(b)))
	return err
}

// printResult writes the step's outcome to stdout: the whole result as JSON
// with --output json, otherwise a short summary for people.
func printResult(rt *Runtime) error {
	r := rt.Result
	if rt.Globals.Output == "json" {
		return printJSON(rt, r)
	}
	var b strings.Builder
	if rt.Details != nil {
		if err := rt.Details(&b); err != nil {
			return err
		}
	}
	target := r.Env
	if r.App != "" {
		target = strings.Trim(r.Env+"/"+r.App, "/")
	}
	if target != "" {
		target = " " + target // status over every environment names none
	}
	fmt.Fprintf(&b, "%s%s: %s in %.1fs", r.Step, target, r.Status, time.Duration(r.Duration).Seconds())
	if r.DryRun {
		b.WriteString(" (dry run)")
	}
	b.WriteString("\n")
	for _, kv := range [][2]string{{"image", r.Image}, {"digest", r.Digest}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %-7s %s\n", kv[0], kv[1])
		}
	}
	for _, c := range r.Checks {
		mark := map[report.Status]string{report.Succeeded: "ok  ", report.Failed: "FAIL", report.Skipped: "skip"}[c.Status]
		fmt.Fprintf(&b, "  %s %s", mark, c.Name)
		if c.Message != "" && c.Status != report.Succeeded {
			fmt.Fprintf(&b, ": %s", firstLine(c.Message))
		}
		b.WriteString("\n")
	}
	_, err := fmt.Fprint(rt.Stdout, rt.Secrets.Mask(b.String()))
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
