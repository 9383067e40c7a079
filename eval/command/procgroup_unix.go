//go:build unix

package command

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel runs cmd in its own process group and makes a
// cancellation (time-out) kill the whole group, so that children of a
// wrapper script (a Python process holding a GPU) die with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	ownGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd) }
}

// ownGroup makes cmd start in a process group of its own.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group of a started cmd (see ownGroup).
func killGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
