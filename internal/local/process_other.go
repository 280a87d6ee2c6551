//go:build unix && !linux

package local

import "syscall"

// childProcAttr gives a child its own process group so Stop can signal the
// whole group. Only Linux can also tie the child's life to its parent.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
