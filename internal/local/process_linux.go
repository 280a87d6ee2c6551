package local

import "syscall"

// childProcAttr gives a child its own process group, so Stop can signal the
// whole group, and has the kernel kill it when its parent dies, so no
// component outlives a crashed test binary.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
