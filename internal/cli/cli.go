// Package cli is stepper's command-line grammar: one kong command struct per
// verb, the global flags, and the lazy providers that build configuration and
// clients only for the commands that use them. It turns errors into exit
// codes and prints them masked; it holds no step logic of its own.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/alecthomas/kong"
	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/secret"
)

// CLI is the whole grammar.
type CLI struct {
	Globals

	BuildSignPush BuildSignPushCmd `cmd:"" name:"build-sign-push" group:"verbs" help:"Build an image on an approved base, push it by digest and sign the digest."`
	Validate      ValidateCmd      `cmd:"" group:"verbs" help:"Check an image, chart and desired-state entry against the platform's container rules."`
	Deploy        DeployCmd        `cmd:"" group:"verbs" help:"Write a release into an environment's desired state and land it."`
	SmokeTest     SmokeTestCmd     `cmd:"" name:"smoke-test" group:"verbs" help:"Prove a deployed release is healthy and record the evidence."`
	Promote       PromoteCmd       `cmd:"" group:"verbs" help:"Carry a verified release to the next environment in the chain."`
	Rollback      RollbackCmd      `cmd:"" group:"verbs" help:"Return an environment's app to an earlier release and hold it there."`
	Status        StatusCmd        `cmd:"" group:"verbs" help:"Show the environment × app board: each release, its verified evidence, what stops its promotion, holds and drift."`
	Local         LocalCmd         `cmd:"" group:"tools" help:"Run a local clone of the platform: up, status, down."`
	Config        ConfigCmd        `cmd:"" group:"tools" help:"Print the effective configuration or the configuration reference."`
	Version       VersionCmd       `cmd:"" group:"tools" help:"Print stepper's version."`
}

// IO is what a run of the CLI reads and writes.
type IO struct {
	Args    []string
	Environ []string
	Stdout  io.Writer
	Stderr  io.Writer
}

// Runtime is handed to every command's Run: the parsed globals and the
// run-wide services. Commands fill Result; Main writes it out.
type Runtime struct {
	Globals *Globals
	Log     zerolog.Logger
	Secrets *secret.Set
	CI      ci.Info
	Environ []string
	Stdout  io.Writer
	// Stderr is where logs and progress go, masked with Secrets.
	Stderr io.Writer
	// Terminal is true when Stderr is a terminal and the console log format
	// is in use: live progress displays are drawn only then.
	Terminal bool
	Result   *report.Result
	// JUnit, when a verb sets it, writes the --junit file in place of the
	// generic one made from Result.Checks.
	JUnit func(io.Writer) error
	// Details, when a verb sets it, prints the verb's own report (like
	// validate's table) before the summary line in text output.
	Details func(io.Writer) error
	// cleanups run when the command is done, like removing a clone.
	cleanups []func()
}

const description = `stepper carries a container release from a laptop to production on a
GitOps-driven Kubernetes platform: build-sign-push, validate, deploy,
smoke-test, promote and rollback, each run the same way from a GitLab CI
template, a Jenkins promotion job or an engineer's shell.

Every flag can also be set with an environment variable STEPPER_<FLAG>
(for example STEPPER_LOG_LEVEL=debug). Exit codes: 0 success, 1 a check
failed, 2 usage or configuration error, 3 infrastructure error, 130/143
interrupted.`

// Main runs one command line and returns the process exit code. It never
// exits itself; main does.
func Main(ctx context.Context, o IO) (code int) {
	secrets := secret.NewSet()
	registerCISecrets(secrets, o.Environ)
	// A panic outside the command itself (parsing, logging setup, printing)
	// still ends as a masked infrastructure error, never as a raw stack.
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(o.Stderr, "stepper: %s\n", secrets.Mask((&panicError{value: p}).Error()))
			code = int(exit.Infra)
		}
	}()
	var cli CLI
	exitCode := -1
	parser, err := kong.New(&cli,
		kong.Name("stepper"),
		kong.Description(description),
		kong.DefaultEnvars("STEPPER"),
		kong.Writers(o.Stdout, o.Stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, WrapUpperBound: 100}),
		kong.ExplicitGroups([]kong.Group{
			{Key: "verbs", Title: "Verbs (the steps of a release):"},
			{Key: "tools", Title: "Tools:"},
		}),
	)
	if err != nil { // the grammar itself is wrong: a programming error
		fmt.Fprintf(o.Stderr, "stepper: internal error: %v\n", err)
		return int(exit.Infra)
	}
	kctx, err := parser.Parse(o.Args)
	if exitCode >= 0 { // --help printed and asked to exit
		return exitCode
	}
	if err != nil {
		return usageError(o.Stderr, secrets, kctx, parseContext(err), err)
	}

	log, err := logging.New(o.Stderr, logging.Options{Format: cli.LogFormat, Level: cli.LogLevel, Secrets: secrets})
	if err != nil {
		return usageError(o.Stderr, secrets, kctx, nil, err)
	}
	rt := &Runtime{
		Globals:  &cli.Globals,
		Log:      log,
		Secrets:  secrets,
		CI:       ci.Detect(o.Environ),
		Environ:  o.Environ,
		Stdout:   o.Stdout,
		Stderr:   secrets.Writer(o.Stderr),
		Terminal: logging.IsTerminal(o.Stderr) && cli.LogFormat != logging.FormatJSON,
		Result:   &report.Result{Step: commandName(kctx), StartedAt: time.Now().UTC(), DryRun: cli.DryRun, Version: Version},
	}
	rt.Result.CI = rt.CI
	ctx = logging.WithContext(ctx, log)
	// The Helm SDK logs warnings through log/slog's default logger, which
	// would write unmasked, unstructured lines to stderr; send them through
	// the run's logger instead. Main is the process's entry point, so the
	// global is ours to set.
	slog.SetDefault(slog.New(zerolog.NewSlogHandler(log)))

	kctx.BindTo(ctx, (*context.Context)(nil))
	// Configuration is loaded only for commands that ask for it, so that
	// `stepper version` works anywhere and never reads a file.
	if err := kctx.BindSingletonProvider(func() (*config.Config, error) { return loadConfig(ctx, rt, parser) }); err != nil {
		fmt.Fprintf(o.Stderr, "stepper: internal error: %v\n", err)
		return int(exit.Infra)
	}
	// Clients are built once, each only when a command asks for it.
	if err := kctx.BindSingletonProvider(func(cfg *config.Config) (*Clients, error) { return newClients(ctx, rt, cfg), nil }); err != nil {
		fmt.Fprintf(o.Stderr, "stepper: internal error: %v\n", err)
		return int(exit.Infra)
	}
	if isVerb(kctx) {
		// The audit record of who ran what, for which commit, from where.
		log.Info().Str(logging.Step, rt.Result.Step).Str("ci", rt.CI.System).Str("commit", rt.CI.CommitSHA).
			Str("ref", rt.CI.Ref).Str("user", rt.CI.User).Str("project", rt.CI.Project).
			Str("pipeline", rt.CI.PipelineURL).Bool("dryRun", cli.DryRun).Str("version", Version).Msg("step started")
	}
	code = runStep(ctx, rt, func() error { return kctx.Run(rt) })
	if isVerb(kctx) {
		if err := printResult(rt); err != nil {
			rt.Log.Error().Err(err).Msg("printing the result failed")
		}
	}
	return code
}

// runStep runs a command and completes its result: cleanups, the exit code,
// the result files and the error line. A panic in the command becomes an
// infrastructure error (exit 3) with a masked message, so the next CI job
// still finds a result file that says the step errored.
func runStep(ctx context.Context, rt *Runtime, run func() error) int {
	runErr := runRecovered(run)
	for _, c := range rt.cleanups {
		c()
	}
	if runErr == nil && ctx.Err() != nil {
		runErr = ctx.Err()
	}
	code := exitCodeFor(ctx, runErr)
	finish(rt, runErr, code)
	if runErr != nil {
		printError(rt, runErr, code)
		var pe *panicError
		if errors.As(runErr, &pe) {
			rt.Log.Debug().Str("stack", rt.Secrets.Mask(string(pe.stack))).Msg("panic stack")
		}
	}
	return code
}

// panicError is a recovered panic. Its message carries the panic value,
// which may hold anything the code had in hand, so it is only ever shown
// masked.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("internal error: panic: %v (a bug in stepper; please report it with the debug log)", p.value)
}

// runRecovered calls run and turns a panic into an infrastructure error.
func runRecovered(run func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = exit.Mark(exit.Infra, &panicError{value: p, stack: debug.Stack()})
		}
	}()
	return run()
}

// exitCodeFor classifies err; a run cut short by a signal exits with the
// signal's conventional code whatever error the step returned.
func exitCodeFor(ctx context.Context, err error) int {
	if err == nil {
		return 0
	}
	var sig signalCause
	if errors.As(context.Cause(ctx), &sig) {
		return sig.code()
	}
	return exit.Code(err)
}

func usageError(w io.Writer, secrets *secret.Set, kctx *kong.Context, pctx *kong.Context, err error) int {
	if kctx == nil {
		kctx = pctx
	}
	hint := "run 'stepper --help' for the commands and flags"
	if kctx != nil && kctx.Selected() != nil {
		hint = fmt.Sprintf("run 'stepper %s --help' for its flags and examples", kctx.Selected().Path())
	}
	fmt.Fprintf(w, "stepper: error: %s\n%s\n", secrets.Mask(err.Error()), hint)
	return int(exit.Usage)
}

func parseContext(err error) *kong.Context {
	var pe *kong.ParseError
	if errors.As(err, &pe) {
		return pe.Context
	}
	return nil
}

// isVerb reports whether the selected command is one of the release steps,
// whose outcome goes to stdout as the step's result.
func isVerb(kctx *kong.Context) bool {
	sel := kctx.Selected()
	return sel != nil && sel.Group != nil && sel.Group.Key == "verbs"
}

func commandName(kctx *kong.Context) string {
	if kctx == nil || kctx.Selected() == nil {
		return ""
	}
	return kctx.Selected().Path()
}

func printError(rt *Runtime, err error, code int) {
	rt.Log.Error().Str(logging.Step, rt.Result.Step).Int("exitCode", code).
		Str("class", exit.Class(code).String()).Msg(rt.Secrets.Mask(err.Error()))
}

func registerCISecrets(set *secret.Set, environ []string) {
	for _, v := range ci.SecretValues(environ) {
		set.Add(v)
	}
}
