package cli

// Globals are the flags every command takes. Each can also be set as
// STEPPER_<NAME>, e.g. STEPPER_LOG_FORMAT=json.
type Globals struct {
	Config    string   `short:"c" placeholder:"FILE" help:"Configuration file (default stepper.yaml). A missing stepper.yaml means built-in defaults only; a file named here must exist."`
	Profile   string   `placeholder:"NAME" help:"Built-in profile to start from, overriding the file's 'profile' key (ehealth)."`
	Platform  string   `name:"platform-config" placeholder:"FILE" help:"The platform file the platform team pins: its rules (chains, landing routes, promoters, approved keys, base images, chart repositories, registry) and the profile's cannot be widened by stepper.yaml, STEPPER_* variables or --config-set."`
	ConfigSet []string `name:"config-set" sep:"none" placeholder:"KEY=VALUE" help:"Override one configuration key, e.g. registry.host=127.0.0.1:5000 or environments.preprod.desiredState.branch=prod. Repeatable; wins over the file and STEPPER_<KEY> variables."`
	LogFormat string   `default:"auto" enum:"auto,console,json" help:"Log format: console on a terminal and JSON otherwise (auto), or forced (${enum})."`
	LogLevel  string   `default:"info" enum:"trace,debug,info,warn,error" help:"Least severe level logged (${enum})."`
	Output    string   `short:"o" default:"text" enum:"text,json" help:"What the command prints on stdout: a text summary or the result as JSON (${enum})."`
	Result    string   `placeholder:"FILE" type:"path" help:"Write the step's outcome as JSON to FILE, for later jobs and as the audit record. Written on failure too."`
	Dotenv    string   `placeholder:"FILE" type:"path" help:"Write the step's outputs as KEY=VALUE lines to FILE, for GitLab artifacts:reports:dotenv."`
	Junit     string   `placeholder:"FILE" type:"path" help:"Write the checks the step ran as JUnit XML to FILE (validate, smoke-test, promote)."`
	DryRun    bool     `help:"Do every read and check, but change nothing: no push, no commit, no merge request, no Jenkins build."`
}
