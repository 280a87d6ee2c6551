package gitlab

import (
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
)

func TestGitLabProjectFromRepoURL(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"https://gitlab.example/group/sub/repo.git", "group/sub/repo"},
		{"https://gitlab.example/group/repo", "group/repo"},
		{"https://gitlab.example/group/repo/", "group/repo"},
		{"http://127.0.0.1:8080/group/repo.git", "group/repo"},
		{"https://oauth2:glpat-secret-1234@gitlab.example/group/repo.git", "group/repo"},
		{"https://gitlab.example/group/repo/-/tree/main", "group/repo"},
		{"git@gitlab.example:group/repo.git", "group/repo"},
		{"gitlab.example:group/sub/repo.git", "group/sub/repo"},
		{"ssh://git@gitlab.example:2222/group/repo.git", "group/repo"},
		{"ssh://git@gitlab.example/group/sub/my.repo.git", "group/sub/my.repo"},
	}
	for _, tt := range tests {
		got, err := ProjectFromRepoURL(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("ProjectFromRepoURL(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}

	for _, bad := range []string{
		"",
		"https://gitlab.example/",
		"https://gitlab.example/repo.git",
		"https://gitlab.example/group//repo.git",
		"https://gitlab.example/group/../repo.git",
		"/srv/git/group/repo.git",
		"file:///srv/git/group/repo.git",
		"git@gitlab.example:repo.git",
		"https://oauth2:glpat-secret-1234@gitlab.example/repo.git",
		"oauth2:glpat-secret-1234@gitlab.example:repo.git",
	} {
		_, err := ProjectFromRepoURL(bad)
		if exit.ClassOf(err) != exit.Usage {
			t.Errorf("ProjectFromRepoURL(%q): class %v: %v", bad, exit.ClassOf(err), err)
		}
		if err != nil && strings.Contains(err.Error(), "glpat-secret-1234") {
			t.Errorf("ProjectFromRepoURL(%q) leaked the password: %v", bad, err)
		}
	}
}
