package promote_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/steps/promote"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    promote.Options
		err  string // "" for valid
	}{
		{name: "app", o: promote.Options{App: "api", From: "staging"}},
		{name: "app to", o: promote.Options{App: "api", From: "staging", To: "prod"}},
		{name: "digest", o: promote.Options{App: "api", From: "staging", Digest: digestA}},
		{name: "all", o: promote.Options{All: true, From: "staging"}},
		{name: "hotfix wait", o: promote.Options{App: "api", From: "staging", Hotfix: true, Wait: true, WaitTimeout: time.Hour}},
		{name: "wait without time", o: promote.Options{App: "api", From: "staging", Wait: true}, err: "--wait-timeout 0s"},
		{name: "no from", o: promote.Options{App: "api"}, err: "missing flag --from=ENV"},
		{name: "from is to", o: promote.Options{App: "api", From: "prod", To: "PROD"}, err: `--from and --to are both "prod"`},
		{name: "all with app", o: promote.Options{All: true, App: "api", From: "staging"}, err: "leave out --app and --digest"},
		{name: "all with digest", o: promote.Options{All: true, Digest: digestA, From: "staging"}, err: "leave out --app and --digest"},
		{name: "digest not sha256", o: promote.Options{App: "api", From: "staging", Digest: "abc"}, err: `--digest "abc": want sha256: and 64 lower-case hex digits`},
		{name: "env without history", o: promote.Options{App: "api", From: "staging", Env: "prod"}, err: "--env goes with --history"},
		{name: "history env", o: promote.Options{History: true, Env: "prod"}},
		{name: "history to", o: promote.Options{History: true, To: "prod"}},
		{name: "history app", o: promote.Options{History: true, Env: "prod", App: "api"}},
		{name: "history without env", o: promote.Options{History: true}, err: "give --env ENV"},
		{name: "history all", o: promote.Options{History: true, Env: "prod", All: true}, err: "--history only reads"},
		{name: "history digest", o: promote.Options{History: true, Env: "prod", Digest: digestA}, err: "--history only reads"},
		{name: "history hotfix", o: promote.Options{History: true, Env: "prod", Hotfix: true}, err: "--history only reads"},
		{name: "history wait", o: promote.Options{History: true, Env: "prod", Wait: true}, err: "--history only reads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
