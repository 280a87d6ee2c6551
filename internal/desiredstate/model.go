package desiredstate

import (
	"fmt"
	"sort"
)

// Pos is where something is declared in a file.
type Pos struct {
	File   string
	Line   int // 1-based
	Column int // 1-based
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// App is one release of one application in one environment, as the
// desired state declares it.
type App struct {
	Name         string
	Namespace    string
	Enabled      bool
	Chart        Chart
	ChartVersion string
	Image        Image // zero when the values carry no image keys
	ValuesFiles  []string
	Set          map[string]string
	SetString    map[string]string
	Config       Config
	Priority     int
	Protected    bool
	// Wait and Timeout (seconds) say how long the release may take to
	// become ready; zero Timeout means the tool's default.
	Wait    bool
	Timeout int
	Pos     Pos
}

// Values merges Set and SetString the way Helm applies them: --set-string
// comes last, so it wins.
func (a App) Values() map[string]string {
	out := make(map[string]string, len(a.Set)+len(a.SetString))
	for k, v := range a.Set {
		out[k] = v
	}
	for k, v := range a.SetString {
		out[k] = v
	}
	return out
}

// Chart names a Helm chart as "repo/name". RepoURL is where the file says
// repo lives (Helmsman's helmRepos), when it says so.
type Chart struct {
	Repo    string
	Name    string
	RepoURL string
}

func (c Chart) String() string {
	if c.Repo == "" {
		return c.Name
	}
	return c.Repo + "/" + c.Name
}

// Config is the per-app configuration the eHealth platform reviews: it is
// read out of the values through Keys, so it is only as complete as the
// key mapping.
type Config struct {
	Ports      map[string]string // values key -> port
	Replicas   string
	Memory     string
	Env        map[string]string // variable name -> value
	SecretRefs map[string]string // values key -> secret name
	DNS        map[string]string // values key -> host name
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
