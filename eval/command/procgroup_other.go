//go:build !unix

package command

import "os/exec"

// killGroupOnCancel leaves cmd as it is: without process groups a
// cancellation kills the command's own process only.
func killGroupOnCancel(cmd *exec.Cmd) {}

// ownGroup leaves cmd as it is (no process groups here).
func ownGroup(cmd *exec.Cmd) {}

// killGroup kills the process of a started cmd.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
