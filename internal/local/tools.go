package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// installHint tells the user how to get a missing tool.
const installHint = "run `bash .ci/tools.sh` from the repository root to install the pinned tools"

// Tool returns the path of an executable, looking in $STEPPER_TOOLS_BIN,
// then ~/.cache/stepper/bin (where .ci/tools.sh links its pinned builds),
// then PATH.
func Tool(name string) (string, error) {
	for _, dir := range toolDirs() {
		path := filepath.Join(dir, name)
		if isExecutable(path) {
			return path, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("tool %s not found in %s or PATH: %s", name, strings.Join(toolDirs(), ", "), installHint)
	}
	return path, nil
}

func toolDirs() []string {
	var dirs []string
	if dir := os.Getenv("STEPPER_TOOLS_BIN"); dir != "" {
		dirs = append(dirs, dir)
	}
	if cache, err := CacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(cache, "bin"))
	}
	return dirs
}

// CacheDir is the stepper cache, ~/.cache/stepper unless $STEPPER_CACHE says
// otherwise (the variable .ci/tools.sh reads too).
func CacheDir() (string, error) {
	if dir := os.Getenv("STEPPER_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the stepper cache: %w", err)
	}
	return filepath.Join(home, ".cache", "stepper"), nil
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}
